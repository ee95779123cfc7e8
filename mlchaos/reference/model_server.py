"""The model server: Open Inference Protocol v2 over FastAPI, serving the production alias.

It watches the registry's alias file and swaps models within a tenth of a second of a
promotion or rollback, as a real server does when its deployment is rolled. It exports what a
well-run service exports: requests and latency per version, validation failures, the
prediction-score distribution, a drift score per feature against the training reference, and
the served version.

Beside the model it serves ``{name}-fallback``: the first registered version behind an input
guard that imputes missing or invalid features with the training means and clips values to
the training range. While the registry's fallback switch is on (the team's mitigation: the
fallback controller, or on-call following a runbook), requests for ``{name}`` are answered by
the fallback too, and its answers say so (``x-model-version: fallback-v1``).

While the registry holds a canary, the canary's version answers its weight's share of the
requests for ``{name}``, spread evenly, and its answers and metrics carry its version: the
canary controller's analysis reads them, and so does mlchaos, from the answers at the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mlchaos.reference.dataset import FEATURES, segments_of
from mlchaos.reference.registry import Aliases, Registry

__all__ = [
    "DRIFT_MIN_COUNT",
    "DRIFT_WINDOW",
    "WARM_GIVE_UP_S",
    "WARM_ROUNDS",
    "WATCH_INTERVAL_S",
    "Batcher",
    "DriftMonitor",
    "InvalidInput",
    "Metrics",
    "ModelHolder",
    "PredictionLog",
    "Served",
    "create_app",
    "guarded_inputs",
    "parse_inputs",
]

WATCH_INTERVAL_S = 0.1
WARM_ROUNDS = 20
WARM_GIVE_UP_S = 0.05
DRIFT_WINDOW = 1000
"""Observations per feature in the drift monitor's sliding window."""
DRIFT_MIN_COUNT = 200
"""Below this many observations the monitor reports nothing rather than noise."""


@dataclass(frozen=True)
class Served:
    version: str
    model: Any
    sha256: str
    reference: dict[str, Any]


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "mlchaos_model_requests",
            "Inference requests by served version and HTTP code.",
            ["model", "version", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "mlchaos_model_request_duration_seconds",
            "Inference latency by served version.",
            ["model", "version"],
            registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.validation_failures = Counter(
            "mlchaos_model_validation_failures",
            "Requests rejected by input validation.",
            ["model", "reason"],
            registry=registry,
        )
        self.imputed = Counter(
            "mlchaos_model_imputed_features",
            "Features the fallback guard imputed.",
            ["model", "feature"],
            registry=registry,
        )
        self.score = Histogram(
            "mlchaos_model_prediction_score",
            "Predicted probability of the positive class.",
            ["model", "version"],
            registry=registry,
            buckets=tuple(round(0.1 * i, 1) for i in range(1, 11)),
        )
        self.reference = Gauge(
            "mlchaos_model_reference_positive_share",
            "Positive share in the training data: what the mean score should be.",
            ["model"],
            registry=registry,
        )
        self.version_info = Gauge(
            "mlchaos_model_version_info",
            "1 for the version being served.",
            ["model", "version", "sha256"],
            registry=registry,
        )
        self.segment_score = Summary(
            "mlchaos_model_segment_score",
            "Predicted probability, per applicant segment.",
            ["model", "version", "segment"],
            registry=registry,
        )
        self.segment_reference = Gauge(
            "mlchaos_model_reference_segment_positive_share",
            "Positive share per segment in the training data.",
            ["model", "segment"],
            registry=registry,
        )
        self.labels = Counter(
            "mlchaos_model_labels",
            "Ground-truth labels joined to predictions by request id.",
            ["model", "version", "outcome"],
            registry=registry,
        )
        self.reference_accuracy = Gauge(
            "mlchaos_model_reference_accuracy",
            "Holdout accuracy of the served version at training time.",
            ["model"],
            registry=registry,
        )


class DriftMonitor(Collector):
    """Per-feature drift against the training reference over a sliding window.

    ``mlchaos_model_drift_score{stat="mean"}`` is |window mean - training mean| in training
    standard deviations; ``stat="scale"`` is |log(window std / training std)|. Computed at
    scrape time, so the request path only appends to a deque.
    """

    def __init__(self, model: str, reference: dict[str, Any]) -> None:
        self.model = model
        self.means = reference["feature_means"]
        self.stds = reference["feature_stds"]
        self.windows = [deque[float](maxlen=DRIFT_WINDOW) for _ in FEATURES]

    def observe(self, features: np.ndarray) -> None:
        for row in features:
            for window, value in zip(self.windows, row, strict=True):
                window.append(float(value))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mlchaos_model_drift_score",
            "Drift of each input feature against the training reference (sliding window).",
            labels=["model", "feature", "stat"],
        )
        for name, window, mean, std in zip(
            FEATURES, self.windows, self.means, self.stds, strict=True
        ):
            if len(window) < DRIFT_MIN_COUNT:
                continue
            values = np.fromiter(window, dtype=float)
            family.add_metric([self.model, name, "mean"], abs(values.mean() - mean) / std)
            spread = values.std()
            scale = abs(math.log(spread / std)) if spread > 0 else float("inf")
            family.add_metric([self.model, name, "scale"], scale)
        yield family


class PredictionLog:
    """Recent predictions by request id, so labels that arrive later can be joined to them."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request_id: str, labels: list[int], version: str) -> None:
        with self._lock:
            for index, label in enumerate(labels):
                key = request_id if len(labels) == 1 else f"{request_id}:{index}"
                self.entries[key] = (label, version)
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)

    def join(self, request_id: str, truth: int) -> tuple[str, str]:
        """(outcome, version): outcome is ``correct``, ``wrong`` or ``unmatched``."""
        with self._lock:
            found = self.entries.pop(request_id, None)
        if found is None:
            return "unmatched", "none"
        predicted, version = found
        return ("correct" if predicted == truth else "wrong"), version


def _warm(model: Any, reference: dict[str, Any], rounds: int = WARM_ROUNDS) -> None:
    """Predict a few times before serving, as production servers do: the first calls of a
    freshly loaded model are slow, and at 500 req/s that is enough for a p99 alert."""
    row = np.asarray([reference["feature_means"]], dtype=float)
    for _ in range(rounds):
        started = time.perf_counter()
        try:
            model.predict_proba(row)
        except Exception:  # a crashing variant crashes when served too, which is the point
            return
        if time.perf_counter() - started > WARM_GIVE_UP_S:
            return  # slow by itself (the `slow` variant): warming does not help, and would delay it


class ModelHolder:
    """Holds the served model and swaps it when the registry's production alias moves, and
    the canary beside it, with the share of requests the registry gives it."""

    def __init__(self, registry: Registry, name: str, metrics: Metrics) -> None:
        self.registry = registry
        self.name = name
        self.metrics = metrics
        self.served = self._load()
        self.fallback = self._fallback()
        aliases = registry.aliases(name)
        self.use_fallback = aliases.fallback
        """The registry's fallback switch: the fallback answers for the model while it is on."""
        self.canary: Served | None = None
        self.canary_weight = 0.0
        """The canary's share of the requests, in percent."""
        self._credit = 0.0
        self._follow_canary(aliases)
        self._mtime = self._alias_mtime()
        self._stop = threading.Event()

    def watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            mtime = self._alias_mtime()
            if mtime != self._mtime:
                self._mtime = mtime
                aliases = self.registry.aliases(self.name)
                if aliases.production != self.served.version:
                    self.served = self._load()
                self.use_fallback = aliases.fallback
                self._follow_canary(aliases)

    def answering(self, model: str) -> Served:
        """Who answers a request for ``model``: the fallback by its own name, or while the
        fallback switch is on; the canary for its share of the requests, spread evenly (a
        smooth weighted round robin, as a load balancer's weights are); production otherwise."""
        if model != self.name or self.use_fallback:
            return self.fallback
        canary = self.canary
        if canary is not None and self.canary_weight > 0:
            self._credit += self.canary_weight  # in percent: 10 x 10.0 is exactly 100.0
            if self._credit >= 100.0:
                self._credit -= 100.0
                return canary
        return self.served

    def _follow_canary(self, aliases: Aliases) -> None:
        """Load the registry's canary (once per version) and take its weight; drop it when the
        registry has none. The share moves only after the version is loaded and warm."""
        wanted = aliases.canary
        if wanted is None:
            self.canary_weight, self.canary, self._credit = 0.0, None, 0.0
            return
        if self.canary is None or self.canary.version != wanted.version:
            self.canary_weight = 0.0
            model, meta = self.registry.load(self.name, wanted.version)
            reference = self.registry.reference(self.name)
            _warm(model, reference)
            self.canary = Served(wanted.version, model, meta["sha256"], reference)
        self.canary_weight = wanted.weight

    def stop(self) -> None:
        self._stop.set()

    def _alias_mtime(self) -> int:
        return self.registry.aliases_path(self.name).stat().st_mtime_ns

    def _load(self) -> Served:
        version = self.registry.aliases(self.name).production
        model, meta = self.registry.load(self.name, version)
        reference = self.registry.reference(self.name)
        self.metrics.version_info.clear()
        self.metrics.version_info.labels(self.name, version, meta["sha256"][:12]).set(1)
        self.metrics.reference.labels(self.name).set(float(reference["positive_share"]))
        for segment, share in reference["segment_positive_share"].items():
            self.metrics.segment_reference.labels(self.name, segment).set(float(share))
        accuracy = reference["holdout_accuracy"].get(version)
        if accuracy is not None:  # a crashing version has none: no accuracy reference then
            self.metrics.reference_accuracy.labels(self.name).set(float(accuracy))
        else:
            self.metrics.reference_accuracy.clear()
        _warm(model, reference)
        return Served(version, model, meta["sha256"], reference)

    def _fallback(self) -> Served:
        first = self.registry.aliases(self.name).history[0]
        model, meta = self.registry.load(self.name, first)
        _warm(model, self.registry.reference(self.name))
        return Served(
            f"fallback-{first}", model, meta["sha256"], self.registry.reference(self.name)
        )


class InvalidInput(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_inputs(body: Any) -> np.ndarray:
    """The feature matrix from an OIP v2 request with one named input tensor per feature."""
    tensors = _tensors(body)
    columns = []
    for feature in FEATURES:
        tensor = tensors.get(feature)
        if tensor is None:
            raise InvalidInput("missing_feature", f"input {feature!r} is missing")
        data = tensor.get("data")
        if not isinstance(data, list) or not data:
            raise InvalidInput("malformed", f"input {feature!r} has no data")
        if any(v is None for v in data):
            raise InvalidInput("null", f"input {feature!r} holds nulls")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in data):
            raise InvalidInput("wrong_type", f"input {feature!r} must hold numbers")
        if any(math.isnan(v) or math.isinf(v) for v in data):
            raise InvalidInput("nan", f"input {feature!r} holds NaN or infinity")
        columns.append(data)
    if len({len(c) for c in columns}) != 1:
        raise InvalidInput("malformed", "inputs have different lengths")
    return np.asarray(columns, dtype=float).T


def guarded_inputs(body: Any, reference: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Lenient parsing for the fallback: impute what is missing or invalid, clip the rest.

    Returns the matrix and the names of the features that were imputed.
    """
    tensors = _tensors(body)
    rows = max((len(t.get("data") or []) for t in tensors.values()), default=1) or 1
    columns, imputed = [], []
    for index, feature in enumerate(FEATURES):
        mean, std = reference["feature_means"][index], reference["feature_stds"][index]
        raw = (tensors.get(feature) or {}).get("data") or []
        column = []
        for i in range(rows):
            value = _number(raw[i]) if i < len(raw) else None
            if value is None:
                imputed.append(feature)
                value = mean
            column.append(min(max(value, mean - 4 * std), mean + 4 * std))
        columns.append(column)
    return np.asarray(columns, dtype=float).T, sorted(set(imputed))


def _valid_or_none(body: Any) -> np.ndarray | None:
    try:
        return parse_inputs(body)
    except InvalidInput:
        return None


def _tensors(body: Any) -> dict[Any, dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InvalidInput("malformed", "body must be an object with an 'inputs' list")
    return {t.get("name"): t for t in body["inputs"] if isinstance(t, dict)}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def create_app(registry: Registry, name: str) -> FastAPI:
    metrics = Metrics(CollectorRegistry())
    holder = ModelHolder(registry, name, metrics)
    drift = DriftMonitor(name, holder.served.reference)
    metrics.registry.register(drift)
    fallback_name = f"{name}-fallback"
    predictions = PredictionLog()
    batcher = Batcher()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = threading.Thread(target=holder.watch, name="alias-watcher", daemon=True)
        watcher.start()
        yield
        holder.stop()

    app = FastAPI(title="mlchaos reference model server", lifespan=lifespan)
    app.state.holder = holder

    @app.get("/v2/health/live")
    def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/v2/models/{model}")
    def metadata(model: str) -> Response:
        if model not in (name, fallback_name):
            return JSONResponse({"error": f"unknown model {model!r}"}, status_code=404)
        served = holder.answering(model)
        reference = served.reference
        return JSONResponse(
            {
                "name": model,
                "versions": [served.version],
                "platform": "sklearn",
                "inputs": [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES],
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [-1]},
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                ],
                "parameters": {
                    "sha256": served.sha256,
                    "reference": {
                        "features": list(FEATURES),
                        "means": reference["feature_means"],
                        "stds": reference["feature_stds"],
                        "positive_share": reference["positive_share"],
                    },
                },
            }
        )

    @app.get("/v2/models/{model}/ready")
    def model_ready(model: str) -> Response:
        known = model in (name, fallback_name)
        return JSONResponse({"ready": known}, status_code=200 if known else 404)

    @app.post("/v2/models/{model}/infer")
    async def infer(model: str, request: Request) -> Response:
        served = holder.answering(model)
        started = time.perf_counter()
        response = await _infer(model, request, served)
        if model in (name, fallback_name):  # a 404 for another model is nobody's answer
            response.headers["x-model-version"] = served.version
        metrics.requests.labels(name, served.version, str(response.status_code)).inc()
        metrics.latency.labels(name, served.version).observe(time.perf_counter() - started)
        return response

    async def _infer(model: str, request: Request, served: Served) -> Response:
        if model not in (name, fallback_name):
            return JSONResponse({"error": f"unknown model {model!r}"}, status_code=404)
        try:
            body = await request.json()
        except ValueError:
            body = None
        try:
            if served is holder.fallback:
                features, imputed = guarded_inputs(body, served.reference)
                for feature in imputed:
                    metrics.imputed.labels(name, feature).inc()
                observed = _valid_or_none(body)
            else:
                features = observed = parse_inputs(body)
        except InvalidInput as exc:
            metrics.validation_failures.labels(name, exc.reason).inc()
            return JSONResponse({"error": str(exc)}, status_code=400)
        if observed is not None:  # drift is judged on inputs as received, never on repairs
            drift.observe(observed)
        try:
            proba = await batcher.predict(served.model, features)
        except Exception as exc:  # a broken artifact must answer 500, not kill the server
            return JSONResponse({"error": f"model failed: {exc}"}, status_code=500)
        score = metrics.score.labels(name, served.version)
        for p in proba:
            score.observe(float(p))
        for segment, p in zip(segments_of(features), proba, strict=True):
            metrics.segment_score.labels(name, served.version, str(segment)).observe(float(p))
        if isinstance(body, dict) and body.get("id"):
            predictions.add(str(body["id"]), [int(p >= 0.5) for p in proba], served.version)
        return JSONResponse(
            {
                "model_name": model,
                "model_version": served.version,
                "id": body.get("id", "") if isinstance(body, dict) else "",
                "outputs": [
                    {
                        "name": "probability",
                        "datatype": "FP64",
                        "shape": [len(proba)],
                        "data": [float(p) for p in proba],
                    },
                    {
                        "name": "label",
                        "datatype": "INT64",
                        "shape": [len(proba)],
                        "data": [int(p >= 0.5) for p in proba],
                    },
                ],
            }
        )

    @app.post("/v2/models/{model}/labels")
    async def labels(model: str, request: Request) -> Response:
        """Ground truth that arrives later: ``{"labels": [{"id": ..., "label": 0 | 1}]}``."""
        try:
            body = await request.json()
            items = body.get("labels", [body]) if isinstance(body, dict) else body
            pairs = [(str(item["id"]), int(item["label"])) for item in items]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {labels: [{id, label}]}"}, status_code=400)
        outcomes: dict[str, int] = {}
        for request_id, truth in pairs:
            outcome, version = predictions.join(request_id, truth)
            metrics.labels.labels(name, version, outcome).inc()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return JSONResponse({"joined": outcomes})

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


class Batcher:
    """Dynamic batching, as Triton and KServe do it: requests that arrive while the model is busy
    are predicted together, in one call per model.

    A gradient-boosted model costs about as much for one row as for fifty, so one call per
    request saturates the server near 500 req/s on two cores (p99 near a second, and a false
    latency alert); batched, it idles. Predictions run in threads, at most ``workers`` batches
    at once, so a slow model stalls its own requests and not the health checks.
    """

    def __init__(self, workers: int = 4, max_rows: int = 64) -> None:
        self.workers = workers
        self.max_rows = max_rows
        self._pending: deque[tuple[Any, np.ndarray, asyncio.Future[np.ndarray]]] = deque()
        self._active = 0

    async def predict(self, model: Any, features: np.ndarray) -> np.ndarray:
        """The positive-class probability of each row of ``features``."""
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((model, features, future))
        if self._active < self.workers:
            self._active += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, rows = [], 0
                while self._pending and rows < self.max_rows:
                    batch.append(self._pending.popleft())
                    rows += len(batch[-1][1])
                for model in {id(m): m for m, _, _ in batch}.values():
                    await self._run(model, [(f, fut) for m, f, fut in batch if m is model])
        finally:
            self._active -= 1

    @staticmethod
    async def _run(model: Any, items: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]) -> None:
        from starlette.concurrency import run_in_threadpool

        try:
            result = await run_in_threadpool(model.predict_proba, np.vstack([f for f, _ in items]))
        except Exception as exc:  # the whole call failed: so did each request in it
            for _, future in items:
                if not future.done():  # done: the client went away meanwhile
                    future.set_exception(exc)
            return
        proba = np.asarray(result)[:, 1]
        start = 0
        for features, future in items:
            if not future.done():
                future.set_result(proba[start : start + len(features)])
            start += len(features)
