"""The gateway in several worker processes on one port: the leases are shared, every worker
takes one up and lets it go at once, and a TTL holds in each even when a worker is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_until
from tests.integration.test_gateway_proxy import Upstream, raw_post, start_gateway
from tests.integration.test_gateway_proxy import upstream as upstream  # the fixture

pytestmark = pytest.mark.integration


def workers(state: Path) -> dict[str, tuple[int, int]]:
    """Worker index -> (its fault path's loopback port, its pid)."""
    found = {}
    for entry in (state / "gateway-workers").glob("[0-9]*"):
        port, pid = entry.read_text().split()
        found[entry.name] = (int(port), int(pid))
    return found


def held_by(port: int) -> set[str]:
    faults = requests.get(f"http://127.0.0.1:{port}/admin/local/faults", timeout=5).json()
    return {f["id"] for f in faults["faults"]}


def inject(url: str, **body: object) -> dict[str, object]:
    answer = requests.post(f"{url}/admin/faults", json={"holder": "test", **body}, timeout=5)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["lease"])


@pytest.fixture
def two_workers(upstream: Upstream, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process, url = start_gateway(upstream, tmp_path, "--workers", "2")
    try:
        wait_until(lambda: len(workers(tmp_path)) == 2, timeout=20)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_every_worker_holds_a_lease_once_injected_and_none_once_reverted(
    two_workers: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, _ = two_workers
    ports = [port for port, _ in workers(tmp_path).values()]
    lease = inject(url, type="error_burst", params={"status": 503}, share=1.0, ttl_s=60)
    assert all(lease["id"] in held_by(port) for port in ports)  # when the answer came
    # every connection, whichever worker took it, meets the lease: new connections each
    codes = {raw_post(f"{url}/v2/models/m/infer", b"{}", {}).status_code for _ in range(20)}
    assert codes == {503}
    faults = requests.get(f"{url}/admin/faults", timeout=5).json()
    assert faults["workers_missing"] == []
    assert [f["applied"] for f in faults["faults"]] == [20]  # counted in both, added up
    outcomes = requests.get(f"{url}/admin/outcomes", timeout=5).json()
    assert sum(n for _, code, n in outcomes["codes"] if code == 503) == 20

    requests.delete(f"{url}/admin/faults/{lease['id']}", timeout=5).raise_for_status()
    assert not any(lease["id"] in held_by(port) for port in ports)
    assert {raw_post(f"{url}/v2/models/m/infer", b"{}", {}).status_code
            for _ in range(20)} == {200}  # fmt: skip
    audit = requests.get(f"{url}/admin/audit", timeout=5).json()["audit"]
    assert [e["action"] for e in audit] == ["inject", "revert"]
    metrics = requests.get(f"{url}/metrics", timeout=5).text
    assert 'mlchaos_gateway_requests_total{code="503",model="m"} 20.0' in metrics
    assert 'mlchaos_gateway_requests_total{code="200",model="m"} 20.0' in metrics


def test_a_ttl_ends_the_lease_in_every_worker_though_the_one_that_took_it_is_killed(
    two_workers: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, process = two_workers
    lease = inject(url, type="error_burst", params={"status": 503}, share=1.0, ttl_s=3)
    expires = datetime.fromisoformat(str(lease["expires_at"])).timestamp()
    [(_, first_pid), _] = sorted(workers(tmp_path).values())
    os.kill(first_pid, signal.SIGKILL)  # the admin's worker, perhaps: the TTL must not care
    # the supervisor starts it again, and the new one takes the lease up from the file
    wait_until(lambda: first_pid not in {pid for _, pid in workers(tmp_path).values()}
               and len(workers(tmp_path)) == 2, timeout=20)  # fmt: skip
    ports = [port for port, _ in workers(tmp_path).values()]
    wait_until(lambda: all(lease["id"] in held_by(port) for port in ports), timeout=5)
    let_go: dict[int, float] = {}

    def gone() -> bool:
        for port in ports:
            if port not in let_go and lease["id"] not in held_by(port):
                let_go[port] = time.time()
        return len(let_go) == len(ports)

    wait_until(gone, timeout=10, interval=0.01)
    late = {port: round(at - expires, 3) for port, at in let_go.items()}
    assert all(lateness <= 0.1 for lateness in late.values()), late
    audit = requests.get(f"{url}/admin/audit", timeout=5).json()
    assert [e["action"] for e in audit["audit"]] == ["inject", "expire"]  # one entry
    process.terminate()
    process.wait(timeout=10)
    assert not [pid for _, pid in workers(tmp_path).values() if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
