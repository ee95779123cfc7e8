"""The model server: Open Inference Protocol v2 over FastAPI, serving the production alias.

It watches the registry's alias file and swaps models within a tenth of a second of a
promotion or rollback, as a real server does when its deployment is rolled. It exports what a
well-run service exports: requests and latency per version, validation failures, the
prediction-score distribution, the training reference and the served version.
"""

from __future__ import annotations

import math
import threading
import time
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
    generate_latest,
)

from mlchaos.stack.dataset import FEATURES
from mlchaos.stack.registry import Registry

WATCH_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Served:
    version: str
    model: Any
    sha256: str
    reference_positive_share: float


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


class ModelHolder:
    """Holds the served model and swaps it when the registry's production alias moves."""

    def __init__(self, registry: Registry, name: str, metrics: Metrics) -> None:
        self.registry = registry
        self.name = name
        self.metrics = metrics
        self.served = self._load()
        self._mtime = self._alias_mtime()
        self._stop = threading.Event()

    def watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            mtime = self._alias_mtime()
            if mtime != self._mtime:
                self._mtime = mtime
                self.served = self._load()

    def stop(self) -> None:
        self._stop.set()

    def _alias_mtime(self) -> int:
        return self.registry.aliases_path(self.name).stat().st_mtime_ns

    def _load(self) -> Served:
        version = self.registry.aliases(self.name).production
        model, meta = self.registry.load(self.name, version)
        share = float(meta["reference"]["positive_share"])
        self.metrics.version_info.clear()
        self.metrics.version_info.labels(self.name, version, meta["sha256"][:12]).set(1)
        self.metrics.reference.labels(self.name).set(share)
        return Served(version, model, meta["sha256"], share)


class InvalidInput(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_inputs(body: Any) -> np.ndarray:
    """The feature matrix from an OIP v2 request with one named input tensor per feature."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InvalidInput("malformed", "body must be an object with an 'inputs' list")
    tensors = {t.get("name"): t for t in body["inputs"] if isinstance(t, dict)}
    columns = []
    for feature in FEATURES:
        tensor = tensors.get(feature)
        if tensor is None:
            raise InvalidInput("missing_feature", f"input {feature!r} is missing")
        data = tensor.get("data")
        if not isinstance(data, list) or not data:
            raise InvalidInput("malformed", f"input {feature!r} has no data")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in data):
            raise InvalidInput("wrong_type", f"input {feature!r} must hold numbers")
        if any(math.isnan(v) or math.isinf(v) for v in data):
            raise InvalidInput("nan", f"input {feature!r} holds NaN or infinity")
        columns.append(data)
    if len({len(c) for c in columns}) != 1:
        raise InvalidInput("malformed", "inputs have different lengths")
    return np.asarray(columns, dtype=float).T


def create_app(registry: Registry, name: str) -> FastAPI:
    metrics = Metrics(CollectorRegistry())
    holder = ModelHolder(registry, name, metrics)
    app = FastAPI(title="mlchaos reference model server")
    watcher = threading.Thread(target=holder.watch, name="alias-watcher", daemon=True)
    app.router.on_startup.append(watcher.start)
    app.router.on_shutdown.append(holder.stop)
    app.state.holder = holder

    @app.get("/v2/health/live")
    def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/v2/models/{model}")
    def metadata(model: str) -> Response:
        if model != name:
            return JSONResponse({"error": f"unknown model {model!r}"}, status_code=404)
        served = holder.served
        return JSONResponse(
            {
                "name": name,
                "versions": [served.version],
                "platform": "sklearn",
                "inputs": [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES],
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [-1]},
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                ],
                "parameters": {"sha256": served.sha256},
            }
        )

    @app.get("/v2/models/{model}/ready")
    def model_ready(model: str) -> Response:
        return JSONResponse({"ready": model == name}, status_code=200 if model == name else 404)

    @app.post("/v2/models/{model}/infer")
    async def infer(model: str, request: Request) -> Response:
        served = holder.served
        started = time.perf_counter()
        response = await _infer(model, request, served)
        metrics.requests.labels(name, served.version, str(response.status_code)).inc()
        metrics.latency.labels(name, served.version).observe(time.perf_counter() - started)
        return response

    async def _infer(model: str, request: Request, served: Served) -> Response:
        if model != name:
            return JSONResponse({"error": f"unknown model {model!r}"}, status_code=404)
        try:
            body = await request.json()
        except ValueError:
            body = None
        try:
            features = parse_inputs(body)
        except InvalidInput as exc:
            metrics.validation_failures.labels(name, exc.reason).inc()
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            proba = await _predict(served.model, features)
        except Exception as exc:  # a broken artifact must answer 500, not kill the server
            return JSONResponse({"error": f"model failed: {exc}"}, status_code=500)
        score = metrics.score.labels(name, served.version)
        for p in proba:
            score.observe(float(p))
        return JSONResponse(
            {
                "model_name": name,
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

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _predict(model: Any, features: np.ndarray) -> np.ndarray:
    from starlette.concurrency import run_in_threadpool

    # In a thread, so that a slow model stalls its own requests and not the health checks.
    result = await run_in_threadpool(model.predict_proba, features)
    return np.asarray(result)[:, 1]
