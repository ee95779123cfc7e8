"""The chaos gateway: a reverse proxy in front of the model server that holds fault leases.

Clients call the gateway as they would the model server. Each active fault lease applies to
a share of requests chosen by its own seeded random stream, one draw per request, so the
selection is deterministic for a given request order and independent of connections
(keep-alive included). With no lease active, request bodies pass through untouched.

Admin API:

    POST   /admin/faults        {"type", "params", "share", "seed", "ttl_s", "holder"}
    GET    /admin/faults        active leases
    DELETE /admin/faults/{id}   end a lease (it also ends by itself when its TTL runs out)
    GET    /admin/audit         inject, revert and expire, with their times
    GET    /admin/outcomes?since=EPOCH   per second: requests answered, how many with 2xx, their
                                         status codes, and which model version answered (with
                                         the time of its first answer in that second)

The gateway routes nothing: it forwards every request to the one upstream it fronts. How the
team mitigates (a rollback, its own fallback) happens behind it, and the gateway only sees the
result: which version answered. A latency spike or an error burst is a fault *of the versions
that served when it was injected* (``params.versions``): it applies to their answers only, so
a team that moves traffic off the sick version (a rollback, a fallback) takes it out of what
clients see, while the fault itself stays in until it is reverted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)

from mlchaos.gateway.contract import (
    KNOWN,
    FaultError,
    Lease,
    behaviour,
    longest_hold,
    replacement,
)
from mlchaos.gateway.front import SELECTED_HEADER
from mlchaos.gateway.metrics import Metrics
from mlchaos.gateway.outcomes import Outcomes
from mlchaos.gateway.state import GatewayState, now_utc, validate_fault
from mlchaos.gateway.workers import Siblings, merge_faults, merge_metrics, merge_outcomes
from mlchaos.protocols import VERSION_HEADER, Codec, Column, Unreadable, answered_version

__all__ = [
    "AUTO_HEADERS",
    "FAULT_TYPES",
    "HOP_HEADERS",
    "MAX_IN_FLIGHT",
    "REFRESH_S",
    "TTL_SLACK_S",
    "UNTYPED",
    "VERSION_BODY_MAX",
    "VERSION_HEADER",
    "FaultError",
    "GatewayState",
    "InFlight",
    "Lease",
    "Metrics",
    "Outcomes",
    "answered_by",
    "codec_of",
    "create_app",
    "flip_labels",
    "mark_request",
    "now_utc",
    "transform",
    "validate_fault",
]

FAULT_TYPES = KNOWN
VERSION_BODY_MAX = 65536
"""Answers larger than this are not read for their ``model_version``: the gateway's cost
per request stays bounded."""

HOP_HEADERS = {
    "connection", "keep-alive", "transfer-encoding", "content-length", "host",
    SELECTED_HEADER.lower(),
}  # fmt: skip
REFRESH_S = 0.5
"""How often a worker reads the shared leases by itself (a stat, unless they changed): only a
backstop. The worker that takes an injection or a revert tells every other before it answers
(``/admin/local/refresh``), and each worker ends a lease at its TTL on a timer of its own, so
an idle gateway wakes twice a second, not fifty times."""
TTL_SLACK_S = 0.001
"""A worker wakes this long after a lease's end, so the lease is past it when it looks."""

AUTO_HEADERS = ("Content-Type", "Accept", "Accept-Encoding", "User-Agent")
"""Headers aiohttp's client would add to a request that had none: a proxy must not."""
MAX_IN_FLIGHT = 1024
"""Requests the gateway works on at once before it sheds more with a 503. Generous: at 500
req/s and a 2 ms upstream a handful are in flight. Requests a latency fault is holding do not
count: they cost nothing but memory, and shedding them would turn latency into errors."""


UNTYPED = "mlchaos_untyped"
"""Marks an answer the upstream sent with no Content-Type, so that none goes out with it."""


async def _keep_untyped(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp adds ``application/octet-stream`` to any body without a type, after the
    handler; this runs after that, before the headers are written."""
    if response.get(UNTYPED):
        response.headers.popall("Content-Type", None)


class InFlight:
    """How many requests the gateway is working on, against its bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.now = 0

    def full(self) -> bool:
        return self.now >= self.limit

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """While a fault delays it, a request is not work in flight."""
        self.now -= 1
        try:
            yield
        finally:
            self.now += 1


def transform(lease: Lease, body: Any) -> Any:
    """Apply a body-changing fault to a request of the protocol the lease names (OIP v2 with
    a tensor per feature unless its ``codec`` says otherwise); `Unreadable` if it is not one."""
    codec = codec_of(lease.params)
    columns: list[Column] = codec.decode(body)
    return codec.rebuild(body, lease.fault.rewrite(lease, columns))


def codec_of(params: dict[str, Any]) -> Codec:
    spec = params.get("codec") or {}
    return Codec(
        protocol=spec.get("protocol", "oip-v2-columns"),
        features=tuple(spec.get("features", ())),
        tensor=spec.get("tensor", "input-0"),
        paths=dict(spec.get("paths", {})),
    )


def mark_request(body: bytes, lease: Lease, selected: bool | None = None) -> None:
    """A ``label`` fault: a request it selects (drawn here unless ``selected`` says) is marked
    by its id, for its outcome later."""
    if not (lease.selects() if selected is None else selected):
        return
    try:
        request_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return
    if request_id:
        lease.fault.mark(lease, str(request_id))


def flip_labels(body: dict[str, Any], lease: Lease) -> tuple[dict[str, Any], int]:
    """The labels posted back, as the lease's fault changes them, and how many it changed."""
    changed, count = [], 0
    for item in body.get("labels", [body]):
        new = lease.fault.relabel(lease, item)
        count += new is not None
        changed.append(item if new is None else new)
    return {"labels": changed}, count


def create_app(
    upstream: str,
    model: str,
    state_dir: Path,
    max_in_flight: int = MAX_IN_FLIGHT,
    admin_token: str | None = None,
    behind_front: bool = False,
    siblings: Siblings | None = None,
) -> web.Application:
    """``admin_token``: when given, ``/admin/`` asks for ``Authorization: Bearer TOKEN``
    (401 otherwise); the proxied paths never do. ``behind_front``: it is the fault path behind
    `mlchaos.gateway.front`, which drew the leases for each request and counts every answer.
    ``siblings``: the gateway's other workers, whose counts an admin request adds up."""
    state = GatewayState(state_dir / "gateway-audit.jsonl")
    metrics = Metrics()
    outcomes = Outcomes()
    in_flight = InFlight(max_in_flight)
    app = web.Application(middlewares=[_admin_guard(admin_token)] if admin_token else [])
    app["state"] = state
    app["in_flight"] = in_flight
    app["metrics"] = metrics
    app["outcomes"] = outcomes
    app["behind_front"] = behind_front
    app.on_response_prepare.append(_keep_untyped)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=30)
        app["session"] = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=30),
            auto_decompress=False,  # pass compressed answers through as they are
            skip_auto_headers=AUTO_HEADERS,
        )
        reaper = asyncio.create_task(_reap(state, metrics))
        yield
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        await app["session"].close()

    app.cleanup_ctx.append(lifecycle)

    async def proxy(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/labels"):
            # Outcomes posted back, not inference: counting them would dilute the edge SLIs.
            return await _forward_labels(request, state, metrics, upstream)
        started = time.perf_counter()
        if in_flight.full():  # overload is answered, counted and seen at the edge, not queued
            metrics.shed.inc()
            response = _shed(in_flight)
        else:
            in_flight.now += 1
            try:
                response = await _forward(request, state, metrics, upstream)
            finally:
                in_flight.now -= 1
        if behind_front:  # the front counts what it answers, once
            return response
        outcomes.count(response.status, answered_by(response))
        metrics.edge.count(model, response.status, time.perf_counter() - started)
        return response

    async def others(path: str, text: bool = False) -> tuple[list[Any], list[str]]:
        if siblings is None:
            return [], []
        return await siblings.gather(app["session"], path, text)

    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        params = dict(body.get("params") or {})
        if _stage_of(body.get("type")) == "answer" and "versions" not in params:
            theirs, _ = await others(f"/admin/local/outcomes?since={time.time():.0f}")
            also = [doc["latest"] for doc in theirs]
            params["versions"] = outcomes.serving(also=also)  # the versions it is a fault of
        try:
            lease, entry = state.inject(
                str(body.get("type")),
                params,
                float(body.get("share", 1.0)),
                int(body.get("seed", 0)),
                float(body.get("ttl_s", 300)),
                str(body.get("holder", "unknown")),
            )
        except (FaultError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        metrics.refresh(state)
        await others("/admin/local/refresh")  # every worker holds it before the answer says so
        return web.json_response({"lease": lease.public(), "audit": entry}, status=201)

    async def local_refresh(request: web.Request) -> web.Response:
        if state.refresh():
            metrics.refresh(state)
        return web.json_response({"faults": len(state.active())})

    async def local_faults(request: web.Request) -> web.Response:
        state.refresh()
        return web.json_response({"faults": [le.public() for le in state.active()]})

    async def list_faults(request: web.Request) -> web.Response:
        state.refresh()
        theirs, missing = await others("/admin/local/faults")
        mine = [le.public() for le in state.active()]
        merged = merge_faults([mine, *(doc["faults"] for doc in theirs)])
        live = {le.id for le in state.active()}  # the file says which leases hold
        return web.json_response(
            {"faults": [le for le in merged if le["id"] in live], "workers_missing": missing}
        )

    async def revert(request: web.Request) -> web.Response:
        try:
            entry = state.end(request.match_info["id"], request.query.get("actor", "unknown"))
        except KeyError:
            return web.json_response(
                {"error": "no such active lease; it ended already"}, status=404
            )
        metrics.refresh(state)
        await others("/admin/local/refresh")  # gone from every worker before the answer
        return web.json_response({"audit": entry})

    async def audit(request: web.Request) -> web.Response:
        return web.json_response({"audit": state.audit()})

    def since_of(request: web.Request) -> float | None:
        try:
            return float(request.query.get("since", "0"))
        except ValueError:
            return None

    async def local_served(request: web.Request) -> web.Response:
        since = since_of(request)
        if since is None:
            return web.json_response({"error": "since must be seconds since the epoch"}, status=400)
        return web.json_response(outcomes.document(since))

    async def served(request: web.Request) -> web.Response:
        since = since_of(request)
        if since is None:
            return web.json_response({"error": "since must be seconds since the epoch"}, status=400)
        theirs, missing = await others(f"/admin/local/outcomes?since={since!r}")
        merged = merge_outcomes([outcomes.document(since), *theirs])
        return web.json_response({**merged, "now": time.time(), "workers_missing": missing})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def local_metrics(request: web.Request) -> web.Response:
        state.refresh()
        metrics.refresh(state)
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def metrics_endpoint(request: web.Request) -> web.Response:
        state.refresh()
        metrics.refresh(state)
        mine = generate_latest(metrics.registry)
        if siblings is None:
            return web.Response(body=mine, headers={"Content-Type": CONTENT_TYPE_LATEST})
        theirs, _ = await others("/admin/local/metrics", text=True)
        merged = merge_metrics([mine.decode(), *theirs])
        return web.Response(body=merged.encode(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/admin/faults", inject)
    app.router.add_get("/admin/faults", list_faults)
    app.router.add_delete("/admin/faults/{id}", revert)
    app.router.add_get("/admin/audit", audit)
    app.router.add_get("/admin/outcomes", served)
    app.router.add_get("/admin/local/outcomes", local_served)
    app.router.add_get("/admin/local/faults", local_faults)
    app.router.add_get("/admin/local/metrics", local_metrics)
    app.router.add_get("/admin/local/refresh", local_refresh)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_route("*", "/{path:.*}", proxy)
    return app


def _stage_of(kind: Any) -> str | None:
    try:
        return behaviour(str(kind)).stage
    except FaultError:
        return None  # refused with its reason when the lease is asked for


def _admin_guard(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/admin/"):
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "the gateway's admin API needs its token (Authorization: Bearer)"},
                    status=401,
                )
        return await handler(request)

    return guard


async def _forward(
    request: web.Request, state: GatewayState, metrics: Metrics, upstream: str
) -> web.Response:
    """Forward a request with the body faults applied, then apply the answer faults (latency,
    errors) to the answers of the versions they are on: one draw per request per lease."""
    drawn = request.headers.get(SELECTED_HEADER) if request.app["behind_front"] else None
    if drawn is None:
        selected = [le for le in state.active() if le.fault.stage != "label" and le.selects()]
    else:  # the front drew, once per lease
        chosen = set(drawn.split(","))
        selected = [le for le in state.active() if le.fault.stage != "label" and le.id in chosen]
    body = await request.read()
    for lease in state.active():
        if lease.fault.stage == "label":
            mark_request(body, lease, None if drawn is None else lease.id in chosen)
    # What clients send is changed whichever version answers it; a body fault counts only
    # where it changed the body, so one the gateway cannot rewrite never looks applied.
    rewrites = [le for le in selected if le.fault.stage == "request"]
    body, rewrote = _rewrite(body, rewrites) if rewrites else (body, [])
    for lease in rewrote:
        _applied(lease, metrics)
    response = await _send_upstream(request, upstream + request.path_qs, body)
    answering = [le for le in selected if le.fault.stage == "answer"]
    if not answering:
        return response
    version = answered_by(response)
    hit = [le for le in answering if le.on_version(version)]
    for lease in hit:
        _applied(lease, metrics)
    await _hold(hit, request.app["in_flight"])
    replaced = replacement(hit)
    if replaced is not None:
        status, document = replaced
        return web.json_response(document, status=status)
    return response


def _applied(lease: Lease, metrics: Metrics) -> None:
    lease.applied += 1
    metrics.faulted.labels(lease.type).inc()


def _shed(in_flight: InFlight) -> web.Response:
    return web.json_response(
        {"error": f"gateway overloaded: {in_flight.limit} requests in flight; shed"},
        status=503,
        headers={"X-Mlchaos-Shed": "1"},
    )


async def _hold(selected: list[Lease], in_flight: InFlight) -> None:
    """Delay the request as its latency leases say, but no longer than they last: a revert or
    an expiry releases every request a lease holds (a 100 h delay must not outlive it)."""
    longest = longest_hold(selected)
    if longest is None:
        return
    delay, lease = longest
    with in_flight.held(), contextlib.suppress(TimeoutError):
        await asyncio.wait_for(lease.ended.wait(), timeout=delay)


def answered_by(response: web.Response) -> str | None:
    """The model version that answered (`mlchaos.protocols.answered_version`), reading a body
    only when it is small, uncompressed JSON: the gateway's cost stays a proxy's."""
    header = response.headers.get(VERSION_HEADER)
    body = response.body
    readable = (
        isinstance(body, bytes) and len(body) <= VERSION_BODY_MAX and body.startswith(b"{")
        and "Content-Encoding" not in response.headers
    )  # fmt: skip
    return answered_version(header, body if readable and isinstance(body, bytes) else None)


async def _send_upstream(request: web.Request, url: str, body: bytes) -> web.Response:
    """Forward as received: the same headers (hop-by-hop ones aside), none invented, and the
    body's bytes; the answer comes back the same way, still compressed if it was."""
    headers = CIMultiDict(
        (k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS
    )
    session: aiohttp.ClientSession = request.app["session"]
    try:
        async with session.request(request.method, url, data=body, headers=headers) as answer:
            content = await answer.read()
            out = CIMultiDict(
                (k, v) for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS
            )
            response = web.Response(body=content, status=answer.status, headers=out)
            response[UNTYPED] = "Content-Type" not in answer.headers
            return response
    except aiohttp.ClientError as exc:
        return web.json_response({"error": f"upstream unreachable: {exc}"}, status=502)


async def _forward_labels(
    request: web.Request, state: GatewayState, metrics: Metrics, upstream: str
) -> web.Response:
    body = await request.read()
    for lease in [le for le in state.active() if le.fault.stage == "label"]:
        try:
            document, flipped = flip_labels(json.loads(body), lease)
        except (ValueError, KeyError, TypeError, AttributeError):
            break
        body = json.dumps(document).encode()
        lease.applied += flipped
        if flipped:
            metrics.faulted.labels(lease.type).inc(flipped)
    return await _send_upstream(request, upstream + request.path_qs, body)


def _rewrite(body: bytes, leases: list[Lease]) -> tuple[bytes, list[Lease]]:
    """The body with each lease's change applied, and the leases that changed it. A body the
    gateway cannot read as a request it knows goes on byte for byte, and each lease notes why."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return body, _unrewritten(leases, "the request body is not JSON")
    rewrote = []
    for lease in leases:
        try:
            changed = transform(lease, document)
        except Unreadable as exc:
            _unrewritten([lease], f"the body is not a request it can rewrite: {exc}")
            continue
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            _unrewritten([lease], f"the body is not a request it can rewrite: {exc!r}")
            continue
        if changed == document:
            protocol = codec_of(lease.params).protocol
            _unrewritten([lease], f"nothing in this {protocol} body is what the fault names")
            continue
        document = changed
        rewrote.append(lease)
    if not rewrote:
        return body, []
    return json.dumps(document, allow_nan=True).encode(), rewrote


def _unrewritten(leases: list[Lease], why: str) -> list[Lease]:
    for lease in leases:
        lease.unrewritten += 1
        lease.why_not = why
    return []


async def _reap(state: GatewayState, metrics: Metrics) -> None:
    """Ends each lease at its TTL by itself (the TTL holds even if the runner, or the worker
    that took the lease, was killed), and takes up what other workers changed: woken by the
    first lease to end, by a lease taken up here (its TTL may be the first), else every
    `REFRESH_S`."""
    wake = asyncio.Event()
    state.on_adopt = wake.set
    while True:
        wake.clear()
        changed = state.refresh()  # at once at the start: a restarted worker takes them up
        if state.expire() or changed:
            metrics.refresh(state)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=_until_due(state))


def _until_due(state: GatewayState) -> float:
    ends = [lease.expires_at for lease in state.active()]
    if not ends:
        return REFRESH_S
    left = (min(ends) - now_utc()).total_seconds()
    return min(REFRESH_S, max(left, 0.0) + TTL_SLACK_S)
