"""A real MLServer on loopback, in the example team's virtualenv, with one model a client
script writes (``tests/integration/clients``), and `mlchaos gateway` in front of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import ROOT, example_bin, free_ports, wait_until

CLIENTS = Path(__file__).parent / "clients"


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def mlserver_and_gateway(models: Path, script: str, model: str) -> Iterator[tuple[str, str]]:
    """(MLServer's address, the gateway's address), each ``127.0.0.1:PORT``."""
    http_port, grpc_port, metrics_port, gateway_port = free_ports(4)
    python = str(example_bin("python"))
    subprocess.run([python, str(CLIENTS / script), str(models), str(http_port),
                    str(grpc_port), str(metrics_port)], check=True, timeout=120)  # fmt: skip
    log = (models / "mlserver.log").open("wb")
    mlserver = subprocess.Popen([str(example_bin("mlserver")), "start", str(models)],
                                stdout=log, stderr=log, start_new_session=True)  # fmt: skip
    gateway = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gateway", "--upstream", f"http://127.0.0.1:{http_port}",
         "--model", model, "--port", str(gateway_port), "--state-dir", str(models / "gw")],
        cwd=ROOT, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _ok(f"http://127.0.0.1:{http_port}/v2/models/{model}/ready"), 90, 0.2)
        wait_until(lambda: _ok(f"http://127.0.0.1:{gateway_port}/health"), 30)
        yield f"127.0.0.1:{http_port}", f"127.0.0.1:{gateway_port}"
    finally:
        for process in (gateway, mlserver):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
