"""The gateway is transparent to a real Triton client: tritonclient[http] 2.73.0 asks a real
MLServer 1.7.1 the same questions directly and through `mlchaos gateway`, and gets the same
answers: server and model metadata, JSON inference, and binary-tensor inference (which
MLServer does not implement, SeldonIO/MLServer#324: its refusal must come back unchanged,
not a gateway error). Both run in the example team's virtualenv, as a team runs them.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import example_bin
from tests.integration.mlserver import CLIENTS, mlserver_and_gateway

pytestmark = pytest.mark.integration
ROWS = (
    '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64",'
    ' "data": [5.1, 3.5, 1.4, 0.2]}]}'
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(MLServer's address, the gateway's address), each ``127.0.0.1:PORT``."""
    with mlserver_and_gateway(tmp_path_factory.mktemp("models"), "sklearn_model.py", "iris") as s:
        yield s


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
