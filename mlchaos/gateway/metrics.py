"""The gateway's Prometheus metrics. Requests and their latency at the edge are counted in
plain dicts and read at scrape time: counting costs the request path a dict update."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mlchaos.gateway.contract import KNOWN
from mlchaos.gateway.state import GatewayState

__all__ = ["BUCKETS", "EdgeCounts", "Metrics"]

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EdgeCounts(Collector):
    """``mlchaos_gateway_requests_total{model,code}`` and
    ``mlchaos_gateway_request_duration_seconds{model}``: what clients saw at the edge."""

    def __init__(self) -> None:
        self.codes: dict[tuple[str, int], int] = {}
        self.buckets: dict[str, list[float]] = {}
        """model -> count per bucket (the last is +Inf), then the sum of seconds."""

    def count(self, model: str, status: int, seconds: float) -> None:
        key = (model, status)
        self.codes[key] = self.codes.get(key, 0) + 1
        counts = self.buckets.get(model)
        if counts is None:
            counts = self.buckets[model] = [0.0] * (len(BUCKETS) + 2)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "mlchaos_gateway_requests", "Requests through the gateway.", labels=["model", "code"]
        )
        for (model, code), n in sorted(self.codes.items()):
            requests.add_metric([model, str(code)], n)
        yield requests
        latency = HistogramMetricFamily(
            "mlchaos_gateway_request_duration_seconds",
            "Latency seen by clients at the edge.",
            labels=["model"],
        )
        for model, counts in sorted(self.buckets.items()):
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for bound, seen in zip([*map(str, BUCKETS), "+Inf"], counts[:-1], strict=True):
                running += seen
                cumulative.append((bound, running))
            latency.add_metric([model], cumulative, counts[-1])
        yield latency


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.edge = EdgeCounts()
        self.registry.register(self.edge)
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
        for kind in KNOWN:
            self.active.labels(kind).set(0)

    def refresh(self, state: GatewayState) -> None:
        live = {lease.type for lease in state.active()}
        for kind in KNOWN:
            self.active.labels(kind).set(1 if kind in live else 0)
