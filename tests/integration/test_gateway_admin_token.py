"""The gateway's admin API (inject, revert, list) asks for a token when it has one, and the
gateway will not listen beyond loopback without one; clients' traffic never needs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlchaos.errors import ObservationError
from mlchaos.observe.gateway import TOKEN_ENV, GatewayClient
from tests.conftest import ROOT, free_ports, wait_until

pytestmark = pytest.mark.integration
TOKEN = "gw-token-5f2c9a7e41d3"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[str]:
    [port] = free_ports(1)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gateway", "--upstream", "http://127.0.0.1:9",
         "--model", "m", "--port", str(port), "--state-dir", str(tmp_path)],
        cwd=ROOT, env={**os.environ, TOKEN_ENV: TOKEN}, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), timeout=30)
        yield url
    finally:
        gateway.terminate()
        gateway.wait(10)


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).ok
    except requests.RequestException:
        return False


def test_the_admin_api_asks_for_the_token(guarded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert requests.get(f"{guarded}/admin/faults", timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer not-it"}
    assert requests.get(f"{guarded}/admin/faults", headers=wrong, timeout=5).status_code == 401
    inject = {"type": "error_burst", "params": {}, "share": 1, "seed": 0, "ttl_s": 5}
    assert requests.post(f"{guarded}/admin/faults", json=inject, timeout=5).status_code == 401
    # traffic is not the admin API: it goes on (here to an upstream that is not there)
    assert requests.post(f"{guarded}/v2/models/m/infer", json={}, timeout=5).status_code == 502
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ObservationError, match="needs its token") as refused:
        GatewayClient(guarded).faults()
    assert TOKEN not in str(refused.value)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert GatewayClient(guarded).faults() == []


def test_beyond_loopback_the_gateway_will_not_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "gateway", "--upstream", "http://127.0.0.1:9",
         "--model", "m", "--host", "0.0.0.0", "--port", str(free_ports(1)[0]),
         "--state-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"set ${TOKEN_ENV} to a token first" in done.stderr
