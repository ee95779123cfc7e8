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
import collections
import contextlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from mlchaos.protocols import VERSION_HEADER, Codec, Column, Unreadable, answered_version
from mlchaos.schema.experiment import GATEWAY_FAULT_TYPES

__all__ = [
    "ANSWER_FAULTS",
    "AUTO_HEADERS",
    "BODY_FAULTS",
    "FAULT_TYPES",
    "HOP_HEADERS",
    "LABEL_FAULTS",
    "MAX_IN_FLIGHT",
    "REAP_INTERVAL_S",
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
    "delay_of",
    "flip_labels",
    "mark_request",
    "now_utc",
    "transform",
    "validate_fault",
]

FAULT_TYPES = GATEWAY_FAULT_TYPES
LABEL_FAULTS = ("concept_drift",)
VERSION_BODY_MAX = 65536
"""Answers larger than this are not read for their ``model_version``: the gateway's cost
per request stays bounded."""
"""Faults on the ground-truth labels clients post later, not on inference requests."""
BODY_FAULTS = ("schema_change", "data_drift", "missing_features")
ANSWER_FAULTS = ("latency_spike", "error_burst")
"""Faults of the model's answers: applied once the answer says which version gave it."""
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
REAP_INTERVAL_S = 0.25

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


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class Lease:
    id: str
    type: str
    params: dict[str, Any]
    share: float
    seed: int
    holder: str
    created_at: datetime
    expires_at: datetime
    rng: random.Random = field(repr=False)
    applied: int = 0
    unrewritten: int = 0
    """Requests it selected that it could not change, never counted applied: a body the
    gateway cannot rewrite, or an answer from a version the fault is not on."""
    why_not: str = ""
    """Why the last of those was not changed."""
    marked: set[str] = field(default_factory=set, repr=False)
    """For concept drift: ids of requests made while the lease held, whose outcome changed."""
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set when the lease ends (revert or TTL): requests it is delaying go on at once."""

    def selects(self) -> bool:
        """One draw per request from this lease's own stream."""
        return self.rng.random() < self.share

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "params": self.params,
            "share": self.share,
            "seed": self.seed,
            "holder": self.holder,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "applied": self.applied,
            "unrewritten": self.unrewritten,
            "why_not": self.why_not,
        }


class FaultError(ValueError):
    """An injection request the gateway cannot honour."""


def _mix_is_whole(params: dict[str, Any]) -> bool:
    """A category mix names its feature, and bands that include its segment and another."""
    mix = params.get("mix")
    if not isinstance(mix, dict) or not params.get("feature"):
        return False
    bands = mix.get("bands")
    return isinstance(bands, dict) and mix.get("segment") in bands and len(bands) >= 2


def validate_fault(kind: str, params: dict[str, Any]) -> None:
    """Reject a fault that would do nothing or that the gateway cannot apply."""
    if kind not in FAULT_TYPES:
        raise FaultError(
            f"unknown fault type {kind!r}; the gateway applies {', '.join(FAULT_TYPES)}"
        )
    checks: dict[str, Callable[[dict[str, Any]], bool]] = {
        "schema_change": lambda p: bool(p.get("rename") or p.get("drop") or p.get("retype")),
        "data_drift": lambda p: (
            _mix_is_whole(p)
            or (
                bool(p.get("feature"))
                and (float(p.get("shift", 0)) != 0 or float(p.get("scale", 1)) != 1)
            )
        ),
        "latency_spike": lambda p: float(p.get("delay_s", 0)) > 0,
        "error_burst": lambda p: 500 <= int(p.get("status", 503)) <= 599,
        "missing_features": lambda p: bool(p.get("features")),
        "concept_drift": lambda p: True,  # flipping the selected labels always changes them
    }
    if not checks[kind](params):
        raise FaultError(f"{kind} with params {params} would change nothing")


def transform(lease: Lease, body: Any) -> Any:
    """Apply a body-changing fault to a request of the protocol the lease names (OIP v2 with
    a tensor per feature unless its ``codec`` says otherwise); `Unreadable` if it is not one."""
    codec = codec_of(lease.params)
    return codec.rebuild(body, _changed(lease, codec.decode(body)))


def codec_of(params: dict[str, Any]) -> Codec:
    spec = params.get("codec") or {}
    return Codec(
        protocol=spec.get("protocol", "oip-v2-columns"),
        features=tuple(spec.get("features", ())),
        tensor=spec.get("tensor", "input-0"),
        paths=dict(spec.get("paths", {})),
    )


def _changed(lease: Lease, columns: list[Column]) -> list[Column]:
    p = lease.params
    if lease.type == "schema_change":
        drops, renames, retypes = set(p.get("drop", [])), p.get("rename", {}), p.get("retype", {})
        kept = [c for c in columns if c.name not in drops]
        for c in kept:
            if c.name in retypes:
                c.values, c.string = [str(v) for v in c.values], True
            c.name = renames.get(c.name, c.name)
        return kept
    named = [c for c in columns if c.name in _named(lease)]
    if lease.type == "data_drift" and p.get("mix"):
        for c in named:
            c.values = [_remixed(lease) for _ in c.values]
    elif lease.type == "data_drift":
        shift, scale = float(p.get("shift", 0.0)), float(p.get("scale", 1.0))
        for c in named:
            c.values = [v * scale + shift if _numeric(v) else v for v in c.values]
    elif lease.type == "missing_features":
        missing = float("nan") if p.get("value", "null") == "nan" else None
        for c in named:
            c.values = [missing for _ in c.values]
    return columns


def _named(lease: Lease) -> set[str]:
    """The features a value-changing fault names."""
    if lease.type == "missing_features":
        return set(lease.params["features"])
    return {str(lease.params["feature"])}


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _remixed(lease: Lease) -> Any:
    """Category mix, one row: the segment's value with probability ``share``, otherwise
    another segment's, so the segment's share of traffic becomes ``share``. A segment is a
    band of numbers (drawn uniformly, rounded) or a list of categories (one drawn)."""
    mix = lease.params["mix"]
    groups = mix["bands"]
    target = str(mix["segment"])
    others = [name for name in groups if name != target]
    if lease.rng.random() < float(mix["share"]):
        group = groups[target]
    else:
        group = groups[others[0] if len(others) == 1 else lease.rng.choice(others)]
    if isinstance(group, list) and len(group) == 2 and all(_numeric(v) for v in group):
        return float(round(lease.rng.uniform(float(group[0]), float(group[1]))))
    return lease.rng.choice(list(group))


def mark_request(body: bytes, lease: Lease) -> None:
    """Concept drift: the outcome of a selected request made now will be the opposite one."""
    if not lease.selects():
        return
    try:
        request_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return
    if request_id:
        lease.marked.add(str(request_id))


def flip_labels(body: dict[str, Any], lease: Lease) -> tuple[dict[str, Any], int]:
    """Flip the labels of marked requests; labels of earlier requests are left as they were."""
    items = body.get("labels", [body])
    flipped, count = [], 0
    for item in items:
        if str(item.get("id")) in lease.marked:
            lease.marked.discard(str(item["id"]))
            item, count = {**item, "label": 1 - int(item["label"])}, count + 1
        flipped.append(item)
    return {"labels": flipped}, count


def delay_of(lease: Lease) -> float:
    mean = float(lease.params["delay_s"])
    if lease.params.get("distribution") == "exponential":
        return lease.rng.expovariate(1.0 / mean)
    return mean


class GatewayState:
    """Leases and the audit log; shared by the request path and the admin API."""

    def __init__(self, audit_path: Path, clock: Callable[[], float] = time.time) -> None:
        self.audit_path = audit_path
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def inject(
        self, kind: str, params: dict[str, Any], share: float, seed: int, ttl_s: float, holder: str
    ) -> tuple[Lease, dict[str, Any]]:
        validate_fault(kind, params)
        if not 0 < share <= 1:
            raise FaultError(f"share must be in (0, 1], got {share}")
        if ttl_s <= 0:
            raise FaultError(f"ttl_s must be positive, got {ttl_s}")
        created = now_utc()
        lease = Lease(
            id=uuid.uuid4().hex[:12],
            type=kind,
            params=params,
            share=share,
            seed=seed,
            holder=holder,
            created_at=created,
            expires_at=datetime.fromtimestamp(self.clock() + ttl_s, UTC),
            rng=random.Random(seed),
        )
        with self._lock:
            self.leases[lease.id] = lease
            entry = self._audit("inject", holder, lease=lease)
        return lease, entry

    def end(self, lease_id: str, actor: str, action: str = "revert") -> dict[str, Any]:
        with self._lock:
            lease = self.leases.pop(lease_id, None)
            if lease is None:
                raise KeyError(lease_id)
            lease.ended.set()
            return self._audit(action, actor, lease=lease)

    def expire(self) -> list[dict[str, Any]]:
        now = now_utc()
        expired = [lid for lid, le in list(self.leases.items()) if le.expires_at <= now]
        return [self.end(lid, actor="gateway", action="expire") for lid in expired]

    def active(self) -> list[Lease]:
        return list(self.leases.values())

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def _audit(
        self, action: str, actor: str, lease: Lease | None = None, **extra: Any
    ) -> dict[str, Any]:
        entry = {"at": now_utc().isoformat(), "action": action, "actor": actor, **extra}
        if lease is not None:
            entry.update(lease_id=lease.id, fault=lease.type, applied=lease.applied)
        with self.audit_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")
        return entry


class Outcomes:
    """How many inference requests the gateway answered each second, how many with a 2xx, with
    which status codes and by which model version, for the last `KEEP_S` seconds: the
    gateway's own view of whether the service is serving, whatever the service's metrics count
    as an error, and of what is served."""

    KEEP_S = 900

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._seconds: collections.deque[list[int]] = collections.deque()
        self._versions: dict[int, dict[str, list[float]]] = {}
        """second -> version -> [answers, time of the first answer, time of the last]."""
        self._codes: dict[int, collections.Counter[int]] = {}
        self._latest: tuple[float, str] | None = None
        """When the latest answer naming a version came, and which."""

    def count(self, status: int, version: str | None = None) -> None:
        now = self.clock()
        second = int(now)
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append([second, 0, 0])
            while self._seconds[0][0] < second - self.KEEP_S:
                gone = self._seconds.popleft()[0]
                self._versions.pop(gone, None)
                self._codes.pop(gone, None)
        bucket = self._seconds[-1]
        bucket[1] += 1
        bucket[2] += 200 <= status < 300
        self._codes.setdefault(second, collections.Counter())[status] += 1
        if version is not None:
            seen = self._versions.setdefault(second, {}).setdefault(version, [0, now, now])
            seen[0] += 1
            seen[2] = now
            self._latest = (now, version)

    def since(self, second: float) -> list[list[int]]:
        """``[second, answered, ok]`` for each second from ``second`` that saw a request."""
        return [list(b) for b in self._seconds if b[0] >= second]

    def versions_since(self, second: float) -> list[list[Any]]:
        """``[second, version, answers, first, last]``: which model version answered, as the
        answers said, and when (epoch seconds) the first and the last of them that second were
        answered: the moment what is served changed, to the answer."""
        return [
            [s, version, int(n), first, last]
            for s, counts in sorted(self._versions.items())
            if s >= second
            for version, (n, first, last) in sorted(counts.items())
        ]

    def serving(self, window_s: float = 10.0) -> list[str]:
        """The version serving now: the one that gave the latest answer naming a version,
        within the last ``window_s`` seconds. Only the latest: a fallback that answered a
        moment ago and was switched off since is not serving. (A fault meant for several
        versions at once, a canary's, names them in its ``versions``.)"""
        if self._latest is None or self._latest[0] < self.clock() - window_s:
            return []
        return [self._latest[1]]

    def codes_since(self, second: float) -> list[list[int]]:
        """``[second, status, answers]``: the status codes the gateway answered with."""
        return [
            [s, code, n]
            for s, counts in sorted(self._codes.items())
            if s >= second
            for code, n in sorted(counts.items())
        ]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlchaos_gateway_requests",
            "Requests through the gateway.",
            ["model", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlchaos_gateway_request_duration_seconds",
            "Latency seen by clients at the edge.",
            ["model"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.active = Gauge(
            "mlchaos_fault_active",
            "1 while a fault lease of this type is active.",
            ["fault"],
            registry=self.registry,
        )
        self.faulted = Counter(
            "mlchaos_gateway_faulted_requests",
            "Requests a fault was applied to.",
            ["fault"],
            registry=self.registry,
        )
        self.shed = Counter(
            "mlchaos_gateway_shed_requests",
            "Requests answered 503 because the gateway had its limit in flight.",
            registry=self.registry,
        )
        for kind in FAULT_TYPES:
            self.active.labels(kind).set(0)

    def refresh(self, state: GatewayState) -> None:
        live = {lease.type for lease in state.active()}
        for kind in FAULT_TYPES:
            self.active.labels(kind).set(1 if kind in live else 0)


def create_app(
    upstream: str,
    model: str,
    state_dir: Path,
    max_in_flight: int = MAX_IN_FLIGHT,
    admin_token: str | None = None,
) -> web.Application:
    """``admin_token``: when given, ``/admin/`` asks for ``Authorization: Bearer TOKEN``
    (401 otherwise); the proxied paths never do."""
    state = GatewayState(state_dir / "gateway-audit.jsonl")
    metrics = Metrics()
    outcomes = Outcomes()
    in_flight = InFlight(max_in_flight)
    app = web.Application(middlewares=[_admin_guard(admin_token)] if admin_token else [])
    app["state"] = state
    app["in_flight"] = in_flight
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
        metrics.requests.labels(model, str(response.status)).inc()
        outcomes.count(response.status, answered_by(response))
        metrics.latency.labels(model).observe(time.perf_counter() - started)
        return response

    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        params = dict(body.get("params") or {})
        if body.get("type") in ANSWER_FAULTS and "versions" not in params:
            params["versions"] = outcomes.serving()  # the versions it is a fault of
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
        return web.json_response({"lease": lease.public(), "audit": entry}, status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response({"faults": [le.public() for le in state.active()]})

    async def revert(request: web.Request) -> web.Response:
        try:
            entry = state.end(request.match_info["id"], request.query.get("actor", "unknown"))
        except KeyError:
            return web.json_response(
                {"error": "no such active lease; it ended already"}, status=404
            )
        metrics.refresh(state)
        return web.json_response({"audit": entry})

    async def audit(request: web.Request) -> web.Response:
        return web.json_response({"audit": state.audit()})

    async def served(request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
        except ValueError:
            return web.json_response({"error": "since must be seconds since the epoch"}, status=400)
        return web.json_response(
            {
                "outcomes": outcomes.since(since),
                "versions": outcomes.versions_since(since),
                "codes": outcomes.codes_since(since),
                "now": time.time(),
            }
        )

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics_endpoint(request: web.Request) -> web.Response:
        metrics.refresh(state)
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_post("/admin/faults", inject)
    app.router.add_get("/admin/faults", list_faults)
    app.router.add_delete("/admin/faults/{id}", revert)
    app.router.add_get("/admin/audit", audit)
    app.router.add_get("/admin/outcomes", served)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_route("*", "/{path:.*}", proxy)
    return app


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
    selected = [le for le in state.active() if le.type not in LABEL_FAULTS and le.selects()]
    body = await request.read()
    for lease in state.active():
        if lease.type in LABEL_FAULTS:
            mark_request(body, lease)
    # What clients send is changed whichever version answers it; a body fault counts only
    # where it changed the body, so one the gateway cannot rewrite never looks applied.
    rewrites = [le for le in selected if le.type in BODY_FAULTS]
    body, rewrote = _rewrite(body, rewrites) if rewrites else (body, [])
    for lease in rewrote:
        _applied(lease, metrics)
    response = await _send_upstream(request, upstream + request.path_qs, body)
    answering = [le for le in selected if le.type in ANSWER_FAULTS]
    if not answering:
        return response
    version = answered_by(response)
    hit = [le for le in answering if _on_version(le, version)]
    for lease in hit:
        _applied(lease, metrics)
    await _hold(hit, request.app["in_flight"])
    for lease in hit:
        if lease.type == "error_burst":
            status = int(lease.params.get("status", 503))
            return web.json_response({"error": "upstream error (injected)"}, status=status)
    return response


def _on_version(lease: Lease, version: str | None) -> bool:
    """Whether an answer by ``version`` is one the lease's fault is on: the versions that
    served when it was injected (all answers, when the service names no version)."""
    scope = lease.params.get("versions") or []
    if not scope or version in scope:
        return True
    lease.unrewritten += 1
    lease.why_not = f"answers came from {version or 'an unnamed version'}, not {', '.join(scope)}"
    return False


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
    delays = [(delay_of(le), le) for le in selected if le.type == "latency_spike"]
    if not delays:
        return
    delay, lease = max(delays, key=lambda pair: pair[0])
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
    for lease in [le for le in state.active() if le.type in LABEL_FAULTS]:
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
    """Ends expired leases by itself: the TTL holds even if the runner was killed."""
    while True:
        await asyncio.sleep(REAP_INTERVAL_S)
        if state.expire():
            metrics.refresh(state)
