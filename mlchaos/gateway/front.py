"""The gateway's fast path: what it costs when no fault touches a request.

The front owns the gateway's port. It parses each request with llhttp (``httptools``), draws
for every active lease whether it selects the request, and then sends it one of two ways:

- **upstream**, when no lease selects it: the request goes on over this client connection's
  own keep-alive connection to the model server, and the answer comes back byte for byte as
  the model server wrote it, while the front only reads its status, and its version (the
  ``x-model-version`` header, else a small JSON body's ``model_version``);
- **upstream too**, when only ``answer`` leases (a latency spike, an error burst) select it:
  its answer is kept whole, then held and replaced here as the leases on the version that
  gave it say (`RequestFault.delay`, `RequestFault.answer`), or sent on as it came;
- **to the fault path** (`mlchaos.gateway.server`'s aiohttp application, in the same process
  on a loopback port), when a lease that rewrites requests or marks them for their labels
  selects it, with the ids of the leases that did: the fault path applies exactly those, and
  nothing draws twice. The admin API, ``/metrics``, ``/health``, a ``HEAD`` and an upgrade
  go there too.

Either way the front counts the answer (per second, by status and version) and times it, so
what was served is counted once, in one place. A request is read whole before it goes on
(inference requests are small); an answer streams. Pipelined requests wait their turn.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httptools

from mlchaos.gateway.contract import Lease, longest_hold, replacement
from mlchaos.gateway.outcomes import Outcomes
from mlchaos.gateway.state import GatewayState
from mlchaos.protocols import VERSION_HEADER, answered_version

__all__ = [
    "CONTROL_PATHS",
    "CONTROL_PREFIXES",
    "DROPPED",
    "PARSER_ONLY",
    "SELECTED_HEADER",
    "VERSION_BODY_MAX",
    "VERSION_KEY",
    "ClientSide",
    "Front",
    "Hop",
    "Request",
]

SELECTED_HEADER = "X-Mlchaos-Selected"
"""The leases the front drew for a request it sends to the fault path (their ids)."""
CONTROL_PATHS = ("/admin/", "/health", "/metrics")
DROPPED = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
        b"content-length", b"host", b"expect", b"upgrade", b"trailer",
        SELECTED_HEADER.lower().encode(),
    }
)  # fmt: skip
"""Hop-by-hop headers, and those the front sets itself."""
PARSER_ONLY = re.compile(
    rb"\r\n(transfer-encoding|connection|keep-alive|proxy-connection|te|trailer|expect|upgrade"
    rb"|x-mlchaos-selected)[ \t]*:"
)
"""Headers that make a request llhttp's to read: framing, hop-by-hop, or the front's own."""
CONTROL_PREFIXES = tuple(path.encode() for path in CONTROL_PATHS)
VERSION_KEY = VERSION_HEADER.lower().encode()
VERSION_BODY_MAX = 65536


@dataclass(slots=True)
class Request:
    """One request read whole from a client."""

    url: bytearray = field(default_factory=bytearray)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    method: bytes = b"GET"
    version: str = "1.1"
    keep_alive: bool = True
    upgrade: bool = False
    kind: str = "inference"
    """``inference`` (counted), ``labels`` or ``control`` (not counted)."""
    selected: list[str] = field(default_factory=list)
    started: float = 0.0
    raw_headers: bytes | None = None
    """The header lines as the client sent them (Host left out), when none is hop-by-hop."""
    destination: str = "upstream"
    wire: bytes = b""
    fast: bool = False
    """Counted in flight on the fast path."""
    answer_leases: list[Lease] = field(default_factory=list)
    """``answer`` leases that selected it: its answer waits here for them, not on the wire."""
    drawn: list[Lease] | None = None
    """The leases that selected it, when they were drawn before it was routed."""

    def encode(self, host: bytes) -> bytes:
        """The request as it goes on: the client's headers but the hop-by-hop ones, the
        destination's Host, the body's length, and the leases drawn for it."""
        body = b"".join(self.body)
        lines = [b"%s %s HTTP/%s\r\nHost: %s\r\n" % (
            self.method, bytes(self.url), self.version.encode(), host)]  # fmt: skip
        if self.raw_headers is not None:  # its Content-Length included
            lines.append(self.raw_headers[2:] + b"\r\n" if self.raw_headers else b"")
        else:
            lines += [b"%s: %s\r\n" % (k, v) for k, v in self.headers if k.lower() not in DROPPED]
            if body or self.method not in (b"GET", b"HEAD", b"DELETE", b"OPTIONS"):
                lines.append(b"Content-Length: %d\r\n" % len(body))
        if self.selected:
            drawn = ",".join(self.selected).encode()
            lines.append(b"%s: %s\r\n" % (SELECTED_HEADER.encode(), drawn))
        if not self.keep_alive:
            lines.append(b"Connection: close\r\n")
        lines.append(b"\r\n")
        return b"".join(lines) + body


def _line_end(head: bytes, start: int) -> int:
    at = head.find(b"\r\n", start)
    return len(head) if at < 0 else at


class Hop(asyncio.Protocol):
    """A connection from the front to one destination (the model server, or the fault path),
    owned by one client connection. It relays the answer's bytes to the client as they come,
    and reads its status and version on the way."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.used = 0
        """Requests sent on it: a connection the server closed while idle is retried."""
        self.received = 0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.version_header: bytes | None = None
        self.encoded = False
        self.json_body = bytearray()
        self.reads_body = True
        self.keep_alive = True
        self.received = 0
        self.headless = False
        self.hold = False
        self.held: list[bytes] = []
        self.fresh = True
        """Reset since its last answer was read: `send` need not."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def send(self, wire: bytes, headless: bool = False, hold: bool = False) -> None:
        """``headless``: the request was a HEAD, whose answer has a length but no body.
        ``hold``: the answer is kept whole (`held`) for the faults on it, not relayed."""
        assert self.transport is not None
        self.transport.write(wire)  # first: its latency is what runs before the next answer
        if not self.fresh:
            self._reset()
        self.fresh = False
        if headless or hold:
            self.headless, self.hold = headless, hold
        self.busy = True
        self.used += 1

    def data_received(self, data: bytes) -> None:
        if self.hold:
            self.held.append(data)
        else:
            self.client.relay(data)
        if not self.received:
            if self._whole(data):
                return
            self._read_head(data)
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.client.hop_failed(self, "the answer is not HTTP/1.1", answered=True)

    def _whole(self, data: bytes) -> bool:
        """An answer that came whole in one read, with its length (most answers): read from
        its bytes without the parser. Anything else (chunked, in pieces, informational) is the
        parser's."""
        end = data.find(b"\r\n\r\n")
        if end < 0 or not data.startswith(b"HTTP/1.1 "):
            return False
        head = data[: end + 2].lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0 or b"\r\ntransfer-encoding:" in head:
            return False
        try:
            length = 0 if self.headless else int(head[at + 17 : head.find(b"\r\n", at + 17)])
            status = int(data[9:12])
        except ValueError:
            return False
        if end + 4 + length != len(data) or status < 200 or status in (204, 304):
            return False
        self.status = status
        self.keep_alive = b"\r\nconnection: close" not in head
        self._read_head(data)
        self.json_body = bytearray(data[end + 4 :]) if length <= VERSION_BODY_MAX else bytearray()
        self.reads_body = length <= VERSION_BODY_MAX
        self.busy = False
        self.client.answered(self)
        return True

    def _read_head(self, data: bytes) -> None:
        """The version header and the encoding, from the answer's head as it came (cheaper
        than a callback per header)."""
        end = data.find(b"\r\n\r\n")
        head = (data if end < 0 else data[: end + 2]).lower()
        at = head.find(b"\r\n" + VERSION_KEY + b":")
        if at >= 0:  # lower() keeps offsets: the value is read as it was written
            start = at + len(VERSION_KEY) + 3
            self.version_header = data[start : head.find(b"\r\n", start)].strip() or None
        self.encoded = b"\r\ncontent-encoding:" in head

    def on_body(self, body: bytes) -> None:
        if self.reads_body:
            self.json_body += body
            if len(self.json_body) > VERSION_BODY_MAX:
                self.reads_body, self.json_body = False, bytearray()

    def on_message_complete(self) -> None:
        self.busy = False
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.client.answered(self)

    def answered_version(self) -> str | None:
        if self.version_header:
            return self.version_header.decode("latin-1")
        readable = self.reads_body and not self.encoded and self.json_body[:1] == b"{"
        return answered_version(None, bytes(self.json_body) if readable else None)

    def pause_writing(self) -> None:  # our sending side is never the slow one
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self.client.hop_failed(self, f"connection closed: {exc or 'by the server'}",
                                   answered=self.received > 0)  # fmt: skip

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ClientSide(asyncio.Protocol):
    """One client connection: requests parsed, sent on in order, answers relayed back."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.reading: Request | None = None
        self.waiting: collections.deque[Request] = collections.deque()
        self.current: Request | None = None
        self.hops: dict[str, Hop] = {}
        self.closing = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.spare: Request | None = None
        """The next request's record, made while nothing waits on this connection."""

    # -- the client's side --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.reading is None and self._whole(data):
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # the upgrade request itself is complete: it goes to the fault path
        except httptools.HttpParserError:
            self._answer_here(400, {"error": "not an HTTP/1.1 request"}, close=True)

    def _whole(self, data: bytes) -> bool:
        """A request that came whole in one read, framed by its length, with no hop-by-hop
        header (most requests): read from its bytes, its headers kept as they came, but Host.
        Anything else is llhttp's."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = data[:end].lower()
        if PARSER_ONLY.search(head) or head.count(b"\r\ncontent-length:") > 1:
            return False
        at = head.find(b"\r\ncontent-length:")
        try:
            length = 0 if at < 0 else int(head[at + 17 : _line_end(head, at + 17)])
        except ValueError:
            return False
        line = head.find(b"\r\n")
        first = data[:line].split(b" ")
        if end + 4 + length != len(data) or len(first) != 3 or first[2] != b"HTTP/1.1":
            return False
        started = time.perf_counter()
        host = head.find(b"\r\nhost:")
        rest = data[line:end] if host < 0 else (
            data[line:host] + data[_line_end(head, host + 2) : end])  # fmt: skip
        wire = self._straight_on(first[0], first[1], rest, data[end + 4 :])
        if isinstance(wire, bytes):
            request, self.spare = self.spare or Request(), None
            self.current = request
            request.started, request.method, request.raw_headers = started, first[0], rest
            request.wire, request.fast = wire, True
            request.url += self.front.prefix + first[1]
            return True
        request = Request(started=started, method=first[0], raw_headers=rest, drawn=wire)
        request.url += first[1]
        if length:
            request.body.append(data[end + 4 :])
        self.waiting.append(request)
        if self.current is None:
            self._next()
        return True

    def _straight_on(
        self, method: bytes, url: bytes, rest: bytes, body: bytes
    ) -> bytes | list[Lease] | None:
        """The fast path's fast path: an inference request that no lease selects, with none
        before it, on a client connection whose model server connection is open and idle, goes
        on at once, before any bookkeeping: what runs between reading a request and writing it
        on is its latency. What went; else the leases that selected it (drawn once: `route`
        takes them), or None: the rest is `route`'s."""
        front, hop = self.front, self.hops.get("upstream")
        if (
            self.current is not None
            or self.waiting
            or self.closing
            or hop is None
            or hop.busy
            or hop.transport is None
            or hop.transport.is_closing()
            or front.in_flight >= front.limit
            or method == b"HEAD"
            or url.startswith(CONTROL_PREFIXES)
            or url.split(b"?", 1)[0].endswith(b"/labels")
        ):
            return None
        if front.state.leases:
            drawn = front.draw(list(front.state.leases.values()))
            if drawn:
                return drawn
        wire = b"%s %s%s HTTP/1.1\r\nHost: %s%s\r\n\r\n%s" % (
            method, front.prefix, url, front.hosts["upstream"], rest, body)  # fmt: skip
        hop.send(wire)
        front.in_flight += 1
        return wire

    def on_message_begin(self) -> None:
        self.reading = Request(started=time.perf_counter())

    def on_url(self, url: bytes) -> None:
        assert self.reading is not None
        self.reading.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.reading is not None
        self.reading.headers.append((name, value))
        if name.lower() == b"expect" and value.lower() == b"100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # it waits for this

    def on_body(self, body: bytes) -> None:
        assert self.reading is not None
        self.reading.body.append(body)

    def on_message_complete(self) -> None:
        request, self.reading = self.reading, None
        assert request is not None
        request.method = self.parser.get_method()
        request.version = self.parser.get_http_version()
        request.keep_alive = self.parser.should_keep_alive()
        request.upgrade = self.parser.should_upgrade()
        self.waiting.append(request)
        if self.current is None:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        for hop in self.hops.values():
            hop.close()
        if self.current is not None:
            self.front.release(self.current)
        self.current = None

    def pause_writing(self) -> None:  # a slow client: stop reading its answers for now
        for hop in self.hops.values():
            if hop.transport is not None:
                hop.transport.pause_reading()

    def resume_writing(self) -> None:
        for hop in self.hops.values():
            if hop.transport is not None:
                hop.transport.resume_reading()

    # -- sending on ---------------------------------------------------------------------
    def _next(self) -> None:
        if not self.waiting or self.closing:
            return
        request = self.current = self.waiting.popleft()
        destination = self.front.route(request, self)
        if destination is None:  # shed
            return
        request.destination = destination
        request.wire = request.encode(self.front.hosts[destination])
        hop = self.hops.get(destination)
        if hop is not None and hop.transport is not None and not hop.transport.is_closing():
            hop.send(request.wire, request.method == b"HEAD", bool(request.answer_leases))
        else:
            self._spawn(self._connect_and_send(destination, request))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect_and_send(self, destination: str, request: Request) -> None:
        host, port = self.front.addresses[destination]
        try:
            _, hop = await asyncio.get_running_loop().create_connection(
                lambda: Hop(self), host, port
            )
        except OSError as exc:
            self._unreachable(request, exc)
            return
        if self.closing or self.current is not request:
            hop.close()
            return
        self.hops[destination] = hop
        hop.send(request.wire, request.method == b"HEAD", bool(request.answer_leases))

    def relay(self, data: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(data)

    def answered(self, hop: Hop) -> None:
        if self.current is not None and self.current.answer_leases:
            self._spawn(self._faulted(self.current, hop, b"".join(hop.held)))
            return
        request, self.current = self.current, None
        if request is not None:
            self.front.count(request, hop.status, hop.answered_version())
        if not hop.keep_alive:
            hop.close()
            self.hops = {k: h for k, h in self.hops.items() if h is not hop}
        if request is not None and not request.keep_alive:
            self._close()
            return
        hop._reset()  # now, after the answer went out, not as the next request goes on
        self.spare = Request()
        self._next()

    async def _faulted(self, request: Request, hop: Hop, answer: bytes) -> None:
        """An answer its ``answer`` leases selected: held and replaced as those on the version
        that gave it say, then sent on; one from a version they are not on goes on as it is."""
        version = hop.answered_version()
        self.front.release(request)  # a request a fault holds is not work in flight
        hit = [lease for lease in request.answer_leases if lease.on_version(version)]
        for lease in hit:
            self.front.applied(lease)
        longest = longest_hold(hit)
        if longest is not None:
            delay, lease = longest
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lease.ended.wait(), timeout=delay)
        replaced = replacement(hit)
        if self.current is not request or self.closing:
            return
        self.current = None
        if replaced is None:
            self.front.count(request, hop.status, version)
            self.relay(answer)
        else:
            self.front.count(request, replaced[0], None)
            self._answer_here(*replaced, close=not request.keep_alive)
        if not hop.keep_alive:
            hop.close()
            self.hops = {k: h for k, h in self.hops.items() if h is not hop}
        if not request.keep_alive:
            self._close()
            return
        self._next()

    def hop_failed(self, hop: Hop, why: str, answered: bool) -> None:
        self.hops = {k: h for k, h in self.hops.items() if h is not hop}
        request = self.current
        if request is None or self.closing:
            return
        if not answered and hop.used > 1:  # closed while idle, as we sent: once more, anew
            self._spawn(self._connect_and_send(request.destination, request))
            return
        if answered:  # part of an answer went out already: the client must see it broken
            self.front.count(request, 502, None)
            self.current = None
            self._close()
            return
        self._unreachable(request, ConnectionError(why))

    def _unreachable(self, request: Request, exc: Exception) -> None:
        if self.current is not request or self.closing:
            return
        self.current = None
        self.front.count(request, 502, None)
        self._answer_here(502, {"error": f"upstream unreachable: {exc}"},
                          close=not request.keep_alive)  # fmt: skip
        if request.keep_alive:
            self._next()

    def shed(self, request: Request, limit: int) -> None:
        self.current = None
        self.front.count(request, 503, None, shed=True)
        self._answer_here(
            503,
            {"error": f"gateway overloaded: {limit} requests in flight; shed"},
            close=not request.keep_alive,
            extra=b"X-Mlchaos-Shed: 1\r\n",
        )
        if request.keep_alive:
            asyncio.get_running_loop().call_soon(self._next)

    def _answer_here(
        self, status: int, document: dict[str, Any], close: bool, extra: bytes = b""
    ) -> None:
        if self.transport is None or self.closing:
            return
        body = json.dumps(document).encode()
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b"Error"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
            b"Content-Length: %d\r\n%s%s\r\n%s"
            % (status, reason, len(body), extra, b"Connection: close\r\n" if close else b"", body)
        )
        if close:
            self._close()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class Front:
    """The gateway's port: routes each request, counts each inference answer."""

    def __init__(
        self,
        state: GatewayState,
        outcomes: Outcomes,
        metrics: Any,
        model: str,
        upstream: str,
        fault_path: tuple[str, int],
        max_in_flight: int,
    ) -> None:
        self.state, self.outcomes, self.metrics, self.model = state, outcomes, metrics, model
        parts = urlsplit(upstream)
        up_port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme != "http":
            raise ValueError(f"the gateway's upstream must be http://, got {upstream!r}")
        self.prefix = parts.path.rstrip("/").encode()
        self.addresses = {"upstream": (parts.hostname or "127.0.0.1", up_port),
                          "faults": fault_path}  # fmt: skip
        self.hosts = {"upstream": parts.netloc.encode(),
                      "faults": b"%s:%d" % (fault_path[0].encode(), fault_path[1])}  # fmt: skip
        self.limit = max_in_flight
        self.in_flight = 0
        self._edge = metrics.edge

    def protocol(self) -> ClientSide:
        return ClientSide(self)

    def route(self, request: Request, client: ClientSide) -> str | None:
        """Where the request goes: ``upstream``, ``faults``, or None when it was shed."""
        path = bytes(request.url).split(b"?", 1)[0].decode("latin-1")
        if path.startswith(CONTROL_PATHS) or request.upgrade or request.method == b"HEAD":
            request.kind = "control"
            return "faults"
        leases = self.state.active()
        if path.endswith("/labels"):
            request.kind = "labels"
            if any(le.fault.stage == "label" for le in leases):
                request.selected = ["labels"]
                return "faults"
            return self._upstream(request)
        if leases:
            drawn = request.drawn if request.drawn is not None else self.draw(leases)
            if any(le.fault.stage != "answer" for le in drawn):
                request.selected = [le.id for le in drawn]
                return "faults"
            request.answer_leases = drawn  # held here, on the way back
        if self.in_flight >= self.limit:  # overload is answered and counted, not queued
            self.metrics.shed.inc()
            client.shed(request, self.limit)
            return None
        self.in_flight += 1
        request.fast = True
        return self._upstream(request)

    @staticmethod
    def draw(leases: list[Lease]) -> list[Lease]:
        """The leases that select a request: the same draws, in the same order, as the fault
        path would make, one per lease."""
        drawn = [le for le in leases if le.fault.stage != "label" and le.selects()]
        drawn += [le for le in leases if le.fault.stage == "label" and le.selects()]
        return drawn

    def _upstream(self, request: Request) -> str:
        if self.prefix:
            request.url = bytearray(self.prefix + bytes(request.url))
        return "upstream"

    def applied(self, lease: Lease) -> None:
        lease.applied += 1
        self.metrics.faulted.labels(lease.type).inc()

    def release(self, request: Request) -> None:
        if request.fast:
            request.fast = False
            self.in_flight -= 1

    def count(self, request: Request, status: int, version: str | None, shed: bool = False) -> None:
        self.release(request)
        if request.kind != "inference":
            return
        self.outcomes.count(status, version)
        self._edge.count(self.model, status, time.perf_counter() - request.started)
