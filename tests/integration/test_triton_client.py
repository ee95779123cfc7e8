"""The gateway is transparent to a real Triton client: tritonclient[http] 2.73.0 asks a real
MLServer 1.7.1 the same questions directly and through `mlchaos gateway`, and gets the same
answers: server and model metadata, JSON inference, and binary-tensor inference (which
MLServer does not implement, SeldonIO/MLServer#324: its refusal must come back unchanged,
not a gateway error). Both run in the example team's virtualenv, as a team runs them.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, example_bin, free_ports, wait_until

pytestmark = pytest.mark.integration
CLIENTS = Path(__file__).parent / "clients"
ROWS = (
    '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64",'
    ' "data": [5.1, 3.5, 1.4, 0.2]}]}'
)


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(MLServer's address, the gateway's address), each ``127.0.0.1:PORT``."""
    models = tmp_path_factory.mktemp("models")
    http_port, grpc_port, metrics_port, gateway_port = free_ports(4)
    python = str(example_bin("python"))
    subprocess.run([python, str(CLIENTS / "sklearn_model.py"), str(models), str(http_port),
                    str(grpc_port), str(metrics_port)], check=True, timeout=120)  # fmt: skip
    log = (models / "mlserver.log").open("wb")
    mlserver = subprocess.Popen([str(example_bin("mlserver")), "start", str(models)],
                                stdout=log, stderr=log, start_new_session=True)  # fmt: skip
    gateway = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gateway", "--upstream", f"http://127.0.0.1:{http_port}",
         "--model", "iris", "--port", str(gateway_port), "--state-dir", str(models / "gw")],
        cwd=ROOT, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _ok(f"http://127.0.0.1:{http_port}/v2/models/iris/ready"), 90, 0.2)
        wait_until(lambda: _ok(f"http://127.0.0.1:{gateway_port}/health"), 30)
        yield f"127.0.0.1:{http_port}", f"127.0.0.1:{gateway_port}"
    finally:
        for process in (gateway, mlserver):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def probe(address: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(example_bin("python")), str(CLIENTS / "triton_probe.py"), address, "iris"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def test_a_triton_client_gets_the_same_answers_through_the_gateway(
    servers: tuple[str, str],
) -> None:
    direct, through = probe(servers[0]), probe(servers[1])
    assert through == direct
    assert direct["live"] is True and direct["server"] == "mlserver" and direct["model"] == "iris"
    assert direct["binary=False"] == {"predict": [0, 2]}
    # MLServer has no binary-tensor extension: what it answers, the client sees unchanged
    assert direct["binary=True"]["status"] == through["binary=True"]["status"] != "502"


def test_server_metadata_and_untyped_requests_pass_through_byte_for_byte(
    servers: tuple[str, str],
) -> None:
    def ask(address: str, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        host, port = address.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.putrequest(method, path, skip_accept_encoding=True)
        if body is not None:  # no Content-Type header at all, as some clients send
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body.encode() if body is not None else None)
        answer = connection.getresponse()
        return answer.status, answer.read()

    direct, through = servers
    assert ask(through, "GET", "/v2") == ask(direct, "GET", "/v2")
    assert ask(direct, "GET", "/v2")[0] == 200
    status, body = ask(through, "POST", "/v2/models/iris/infer", ROWS)
    assert (status, ask(direct, "POST", "/v2/models/iris/infer", ROWS)[0]) == (200, 200)
    assert json.loads(body)["model_version"] == "1"
