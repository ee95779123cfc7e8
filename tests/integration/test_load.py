"""Real Locust traffic, as a subprocess, against the real model server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from mlchaos.load.payload import prepare
from mlchaos.load.runner import Locust
from mlchaos.protocols import Codec
from mlchaos.reference.config import StackConfig
from mlchaos.schema import Load
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


def served_requests(stack: StackConfig) -> float:
    metrics = requests.get(f"{stack.url('model-server')}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mlchaos_model_requests_total{") and 'code="200"' in line
    )


def test_locust_drives_the_model_and_reports_what_it_achieved(
    stack: StackConfig, tmp_path: Path
) -> None:
    before = served_requests(stack)
    with Locust(
        Load(users=4, rate=80, ramp_up=0),
        stack.url("model-server"),
        "credit-risk",
        prepare(Codec(), tmp_path / "payload.jsonl", dataset=stack.traffic_path),
        tmp_path,
    ) as locust:
        wait_until(lambda: served_requests(stack) - before >= 150, timeout=30)
    stats = locust.stats
    assert stats is not None
    assert stats.requests >= 150 and stats.failures == 0
    assert stats.achieved_rps > 0 and stats.p99_ms is not None
    # Locust's count and the server's own count agree: the load figure is real.
    assert abs((served_requests(stack) - before) - stats.requests) <= 8


class Recorder(ThreadingHTTPServer):
    """Keeps every request it is sent: what a KServe v1 server would receive."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Keep)
        self.seen: list[tuple[str, object]] = []


class _Keep(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.path, json.loads(body)))
        answer = b'{"predictions": [0]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def test_locust_speaks_the_services_protocol_and_posts_no_labels_unasked(tmp_path: Path) -> None:
    """A team's dataset, in KServe v1, to its predict path; no labels path, no label posts."""
    data = tmp_path / "rows.csv"
    data.write_text("amount,tier,label\n12.5,gold,0\n80,silver,1\n")
    codec = Codec("kserve-v1", ("amount", "tier"))
    payload = prepare(codec, tmp_path / "payload.jsonl", dataset=data)
    server = Recorder()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        load = Load(users=1, rate=20, ramp_up=0, labelled=1.0, label_lag=0.1)
        with Locust(load, url, "scorer", payload, tmp_path, "/v1/models/{model}:predict", None):
            wait_until(lambda: len(server.seen) >= 10, timeout=30)
    finally:
        server.shutdown()
    assert {path for path, _ in server.seen} == {"/v1/models/scorer:predict"}
    assert {json.dumps(body) for _, body in server.seen} <= {
        '{"instances": [[12.5, "gold"]]}',
        '{"instances": [[80.0, "silver"]]}',
    }
