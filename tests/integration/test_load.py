"""Real Locust traffic, as a subprocess, against the real model server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests

from mlchaos.errors import MlchaosError
from mlchaos.load.payload import prepare
from mlchaos.load.runner import Locust
from mlchaos.protocols import Codec
from mlchaos.reference.config import StackConfig
from mlchaos.schema import Load
from tests.conftest import free_ports, wait_until

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


class Scorer(ThreadingHTTPServer):
    """An OIP model server that keeps the id of every request and every label it is sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Score)
        self.ids: list[str] = []
        self.labels: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Score(BaseHTTPRequestHandler):
    server: Scorer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            if self.path.endswith("/labels"):
                self.server.labels += [label["id"] for label in body["labels"]]
            else:
                self.server.ids.append(body["id"])
        answer = json.dumps({"model_name": "m", "id": body.get("id", ""), "outputs": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def scorer() -> Iterator[Scorer]:
    server = Scorer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def oip_payload(tmp_path: Path) -> Path:
    data = tmp_path / "rows.csv"
    data.write_text("amount,tier,label\n12.5,1,0\n80,2,1\n33,3,0\n")
    return prepare(Codec("oip-v2-columns", ("amount", "tier")), tmp_path / "p.jsonl", dataset=data)


def users_of(ids: list[str]) -> set[int]:
    return {int(request_id.split("-")[0][1:]) for request_id in ids}


def test_locust_workers_share_the_load_and_the_masters_combined_stats_are_what_arrived(
    scorer: Scorer, tmp_path: Path
) -> None:
    """``load.workers: 2``: a master and two worker processes. Users are spread over both
    (numbered from 1 and from 1001), no request id repeats between them, every label joins a
    request that was sent, and the master's combined count is what the server received."""
    load = Load(users=4, rate=60, ramp_up=0, workers=2, labelled=1.0, label_lag=0.1)
    with Locust(load, scorer.url, "m", oip_payload(tmp_path), tmp_path,
                labels_path="/v2/models/{model}/labels") as locust:  # fmt: skip
        assert locust.master is not None and locust.master.startswith("127.0.0.1:")
        wait_until(lambda: len(scorer.ids) >= 200 and len(scorer.labels) >= 50, timeout=60)
    stats = locust.stats
    assert stats is not None and stats.failures == 0
    with scorer.lock:
        ids, labels = list(scorer.ids), list(scorer.labels)
    assert len(set(ids)) == len(ids), "request ids repeat between workers"
    users = users_of(ids)
    assert {u // 1000 for u in users} == {0, 1}, f"one worker sent everything: users {users}"
    assert set(labels) <= set(ids)
    # the combined stats cover both workers: the last report can trail by one interval (3 s)
    assert len(ids) - 3 * 60 - 10 <= stats.requests <= len(ids)


def test_a_worker_on_another_machine_needs_only_locust_and_the_masters_address(
    scorer: Scorer, tmp_path: Path
) -> None:
    """``remote_workers: 1``: the README's worker command (``locust --worker -f -``), run from
    a directory with no payload and no mlchaos file, fetches the locustfile from the master
    and the payload with the run's options, and sends the load."""
    (port,) = free_ports(1)
    load = Load(users=2, rate=20, ramp_up=0, remote_workers=1, master=f"127.0.0.1:{port}",
                connect_within=60)  # fmt: skip
    elsewhere = tmp_path / "other-machine"
    elsewhere.mkdir()
    worker = subprocess.Popen(
        [sys.executable, "-m", "locust", "--worker", "-f", "-", "--master-host", "127.0.0.1",
         "--master-port", str(port)],
        cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with Locust(load, scorer.url, "m", oip_payload(tmp_path), tmp_path / "run"):
            wait_until(lambda: len(scorer.ids) >= 30, timeout=60)
    finally:
        worker.terminate()
        worker.wait(15)
    assert users_of(scorer.ids) <= {1, 2}


def test_workers_that_never_connect_stop_the_load_with_a_clear_error_in_bounded_time(
    tmp_path: Path,
) -> None:
    load = Load(users=2, rate=20, remote_workers=1, master=f"127.0.0.1:{free_ports(1)[0]}",
                connect_within=2)  # fmt: skip
    started = time.monotonic()
    locust = Locust(load, "http://127.0.0.1:9", "m", oip_payload(tmp_path), tmp_path)
    with pytest.raises(MlchaosError, match=r"1 workers expected at 127\.0\.0\.1:\d+"):
        locust.__enter__()
    assert time.monotonic() - started < 30
    assert not [p for p in psutil.process_iter(["cmdline"])
                if str(tmp_path) in " ".join(p.info["cmdline"] or [])]  # fmt: skip
