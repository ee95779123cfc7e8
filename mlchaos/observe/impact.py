"""What clients were served while a fault was in, as the chaos gateway counted it, read from
Prometheus over the fault's window: the p95 and p99 latency (bounded by its histogram's
buckets) and the share of requests rejected as invalid (a 4xx: what input validation does to a
schema change). Reported for every experiment, never judged: the experiment's SLOs are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlchaos.burnrate import prom_duration
from mlchaos.errors import ObservationError
from mlchaos.observe.adapters import Metrics
from mlchaos.observe.budget import value_at

__all__ = ["served"]


def served(metrics: Metrics, model: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The figures over ``[start, end]``; ``reason`` says why one is missing."""
    window = prom_duration(max(1.0, round((end - start).total_seconds())))
    selector = f'model="{model}"'
    histogram = f"mlchaos_gateway_request_duration_seconds_bucket{{{selector}}}"
    buckets = f"sum by (le) (rate({histogram}[{window}]))"
    counted = "mlchaos_gateway_requests_total"
    requests = f"sum(increase({counted}{{{selector}}}[{window}]))"
    rejected = f'(sum(increase({counted}{{{selector},code=~"4.."}}[{window}])) or vector(0))'
    try:
        p95 = value_at(metrics, f"histogram_quantile(0.95, {buckets})", end)
        p99 = value_at(metrics, f"histogram_quantile(0.99, {buckets})", end)
        share = value_at(metrics, f"{rejected} / {requests}", end)
    except ObservationError as exc:
        return {"reason": f"Prometheus could not be read: {exc}"}
    found: dict[str, Any] = {
        "p95_s": p95, "p99_s": p99, "validation_failure_share": share,
        "source": "Prometheus: the chaos gateway's request histogram and counters",
    }  # fmt: skip
    if share is None:
        found["reason"] = "no data: the gateway's request counters returned nothing"
    return found
