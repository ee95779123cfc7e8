"""The chaos gateway as a proxy, in front of a real upstream that echoes what it received.

The upstream is a plain `http.server` on loopback, so the test sees exactly the bytes and
headers the gateway forwarded. The gateway is the real `mlchaos gateway` process.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ROOT, free_ports, wait_until

pytestmark = pytest.mark.integration
GZIPPED = gzip.compress(b'{"compressed": true}', mtime=0)


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Echo)
        self.release = threading.Event()
        self.blocked = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Echo(BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/block":
            with self.server.lock:
                self.server.blocked += 1
            self.server.release.wait(30)
        if self.path == "/gzip":
            return self._answer(GZIPPED, {"Content-Type": "application/json",
                                          "Content-Encoding": "gzip"})  # fmt: skip
        if self.path == "/untyped":
            return self._answer(b"raw answer", {})
        if self.path == "/close":  # this answer, then the connection is closed
            return self._answer(b"closing", {"Connection": "close"})
        echo = {
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": base64.b64encode(body).decode(),
        }
        self._answer(json.dumps(echo).encode(), {"Content-Type": "application/json"})

    do_GET = do_POST

    def _answer(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()


def start_gateway(
    upstream: Upstream, state: Path, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    [port] = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gateway", "--upstream", upstream.url, "--model", "m",
         "--port", str(port), "--state-dir", str(state), *extra],
        cwd=ROOT, text=True, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url), timeout=30)
    return process, url


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def gateway(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = start_gateway(upstream, tmp_path_factory.mktemp("gateway"))
    yield url
    process.terminate()
    process.wait(timeout=10)


class Raw:
    def __init__(self, status: int, headers: http.client.HTTPMessage, content: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, content

    def json(self) -> Any:
        return json.loads(self.content)


def _on(connection: http.client.HTTPConnection, path: str, body: bytes,
        headers: dict[str, str]) -> Raw:  # fmt: skip
    """A request on this connection, with exactly these headers and Content-Length."""
    connection.putrequest("POST", path, skip_accept_encoding=True)
    for key, value in {**headers, "Content-Length": str(len(body))}.items():
        connection.putheader(key, value)
    connection.endheaders(body)
    answer = connection.getresponse()
    return Raw(answer.status, answer.headers, answer.read())


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> Raw:
    """A request with exactly these headers and Content-Length: http.client adds no other."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        return _on(connection, parts.path + (f"?{parts.query}" if parts.query else ""), body,
                   headers)  # fmt: skip
    finally:
        connection.close()


def test_a_request_without_content_type_passes_without_one(gateway: str) -> None:
    body = bytes(range(256))  # not JSON, not text: bytes must pass as they are
    answer = raw_post(f"{gateway}/v2/models/m/infer", body, {"X-Team": "fraud"})
    echo = answer.json()
    names = {k.lower() for k, _ in echo["headers"]}
    assert names == {"host", "content-length", "x-team"}  # nothing invented on the way
    assert ["X-Team", "fraud"] in echo["headers"]
    assert base64.b64decode(echo["body"]) == body


def test_headers_and_bytes_pass_unchanged(gateway: str) -> None:
    body = b'{"inputs": [],   "id": "x"}'  # odd spacing: not re-serialised
    headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
               "Authorization": "Bearer t", "User-Agent": "tritonclient"}  # fmt: skip
    echo = raw_post(f"{gateway}/v2/models/m/infer?x=1", body, headers).json()
    assert echo["path"] == "/v2/models/m/infer?x=1"
    for pair in headers.items():
        assert list(pair) in echo["headers"]
    assert base64.b64decode(echo["body"]) == body


def test_answers_pass_as_the_upstream_gave_them(gateway: str) -> None:
    zipped = requests.post(f"{gateway}/gzip", data=b"", stream=True, timeout=10)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.raw.read() == GZIPPED  # still compressed: not decoded on the way
    untyped = raw_post(f"{gateway}/untyped", b"", {})
    assert untyped.content == b"raw answer"
    assert "Content-Type" not in untyped.headers


def inject(gateway: str, **body: object) -> str:
    answer = requests.post(f"{gateway}/admin/faults", json={"holder": "test", **body}, timeout=5)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["lease"]["id"])


def _answered(gateway: str, code: int) -> float:
    for line in requests.get(f"{gateway}/metrics", timeout=5).text.splitlines():
        if line.startswith(f'mlchaos_gateway_requests_total{{code="{code}",model="m"}}'):
            return float(line.split()[-1])
    return 0.0


def test_requests_on_one_connection_go_on_as_sent_counted_once_faults_still_apply(
    gateway: str,
) -> None:
    """The fast path's fast path (a request on a connection whose model server connection is
    open and idle goes on before any bookkeeping) changes nothing a client or the model server
    can see: each request arrives as it was sent, each answer is counted once, a model server
    that closes its connection is reached anew, and a fault still applies on that connection."""
    parts = urlsplit(gateway)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    before = _answered(gateway, 200)
    sent = [(f"/v2/models/m/infer?n={n}", f'{{"n": {n}}}'.encode() * (n + 1), {"X-N": str(n)})
            for n in range(4)]  # fmt: skip
    try:
        for path, body, headers in sent:
            echo = _on(connection, path, body, headers).json()
            assert echo["path"] == path
            assert base64.b64decode(echo["body"]) == body
            names = [k.lower() for k, _ in echo["headers"]]
            assert sorted(names) == ["content-length", "host", "x-n"]  # nothing added or lost
            assert ["X-N", headers["X-N"]] in echo["headers"]
        assert _on(connection, "/close", b"", {}).content == b"closing"
        echo = _on(connection, "/v2/models/m/infer", b"{}", {}).json()  # reached anew
        assert echo["path"] == "/v2/models/m/infer"
        assert _answered(gateway, 200) - before == len(sent) + 2
        lease = inject(gateway, type="error_burst", params={"status": 503}, share=1.0, ttl_s=60)
        try:
            assert _on(connection, "/v2/models/m/infer", b"{}", {}).status_code == 503
        finally:
            requests.delete(f"{gateway}/admin/faults/{lease}", params={"actor": "test"},
                            timeout=5).raise_for_status()  # fmt: skip
        assert _on(connection, "/v2/models/m/infer", b"{}", {}).status_code == 200
    finally:
        connection.close()


def test_on_one_connection_a_lease_draws_once_per_request_from_its_seed(gateway: str) -> None:
    """Requests that go straight on are drawn for as the others are: once each, in order,
    from the lease's seed, so the requests it selects are those its seed says."""
    parts = urlsplit(gateway)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        assert _on(connection, "/v2/models/m/infer", b"{}", {}).status_code == 200  # connected
        lease = inject(gateway, type="error_burst", params={"status": 503}, share=0.5, seed=7,
                       ttl_s=60)  # fmt: skip
        try:
            seen = [_on(connection, "/v2/models/m/infer", b"{}", {}).status_code == 503
                    for _ in range(40)]  # fmt: skip
        finally:
            requests.delete(f"{gateway}/admin/faults/{lease}", params={"actor": "test"},
                            timeout=5).raise_for_status()  # fmt: skip
    finally:
        connection.close()
    draws = random.Random(7)
    assert seen == [draws.random() < 0.5 for _ in range(40)]


@pytest.mark.parametrize("end", ["revert", "ttl"])
def test_ending_a_latency_lease_releases_the_requests_it_holds(gateway: str, end: str) -> None:
    """A 100 h delay must not outlive its lease, whether reverted or expired."""
    ttl = 2 if end == "ttl" else 300
    lease = inject(gateway, type="latency_spike", params={"delay_s": 360_000}, ttl_s=ttl)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(raw_post, f"{gateway}/v2/models/m/infer", b"{}", {})

        def held() -> bool:
            faults = requests.get(f"{gateway}/admin/faults", timeout=5).json()["faults"]
            return any(f["id"] == lease and f["applied"] >= 1 for f in faults)

        wait_until(held, timeout=10)
        assert not pending.done()
        if end == "revert":
            requests.delete(f"{gateway}/admin/faults/{lease}", timeout=5).raise_for_status()
        answer = pending.result(timeout=20)  # the bound: the TTL plus the reaper's tick
    assert answer.status_code == 200


def test_beyond_its_limit_in_flight_the_gateway_sheds_and_counts(
    upstream: Upstream, tmp_path: Path
) -> None:
    # one worker: the bound is split between workers, and connections between them unevenly
    process, url = start_gateway(upstream, tmp_path, "--max-in-flight", "4", "--workers", "1")
    upstream.release.clear()
    upstream.blocked = 0
    try:
        with ThreadPoolExecutor(10) as pool:
            first = [pool.submit(raw_post, f"{url}/block", b"", {}) for _ in range(4)]
            wait_until(lambda: upstream.blocked == 4, timeout=10)
            shed = [raw_post(f"{url}/block", b"", {}) for _ in range(6)]
            upstream.release.set()
            answered = [f.result(timeout=20) for f in first]
        assert [a.status_code for a in answered] == [200] * 4
        assert [(a.status_code, a.headers.get("X-Mlchaos-Shed")) for a in shed] == [(503, "1")] * 6
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert "mlchaos_gateway_shed_requests_total 6.0" in metrics
        assert 'code="503"' in metrics  # overload is visible at the edge, not hidden
    finally:
        upstream.release.set()
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (bytes(range(256)), "the request body is not JSON"),  # a binary tensor, say
        (b"[1, 2, 3]", "the body is not a request it can rewrite"),
        (b'{"inputs": [{"name": "other", "data": [1]}]}', "nothing in this oip-v2-columns body"),
    ],
    ids=["binary", "json-list", "no-such-feature"],
)
def test_a_body_it_cannot_rewrite_passes_as_it_came_and_is_not_counted(
    gateway: str, body: bytes, why: str
) -> None:
    """A fault that changed nothing must not look applied: the experiment would be judged on
    a fault that never reached the model. The body goes on byte for byte."""
    lease = inject(gateway, type="schema_change", params={"drop": ["age"]}, ttl_s=60)
    try:
        echo = raw_post(f"{gateway}/v2/models/m/infer", body, {"X-Team": "fraud"}).json()
        assert base64.b64decode(echo["body"]) == body
        [held] = [f for f in requests.get(f"{gateway}/admin/faults", timeout=5).json()["faults"]
                  if f["id"] == lease]  # fmt: skip
        assert (held["applied"], held["unrewritten"]) == (0, 1)
        assert held["why_not"].startswith(why)
    finally:
        requests.delete(f"{gateway}/admin/faults/{lease}", params={"actor": "test"}, timeout=5)


def test_a_body_it_rewrites_is_counted(gateway: str) -> None:
    lease = inject(gateway, type="schema_change", params={"drop": ["age"]}, ttl_s=60)
    try:
        body = b'{"inputs": [{"name": "age", "data": [40]}, {"name": "income", "data": [1]}]}'
        echo = raw_post(f"{gateway}/v2/models/m/infer", body, {}).json()
        sent = json.loads(base64.b64decode(echo["body"]))
        assert [t["name"] for t in sent["inputs"]] == ["income"]
        [held] = [f for f in requests.get(f"{gateway}/admin/faults", timeout=5).json()["faults"]
                  if f["id"] == lease]  # fmt: skip
        assert (held["applied"], held["unrewritten"]) == (1, 0)
    finally:
        requests.delete(f"{gateway}/admin/faults/{lease}", params={"actor": "test"}, timeout=5)
