"""Prometheus, through prometheus-api-client for queries and its HTTP API for alerts and rules."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import requests
import yaml
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from mlchaos.errors import ObservationError
from mlchaos.schema.units import parse_duration

__all__ = ["Prometheus"]


class Prometheus:
    """One Prometheus server. Every method raises `ObservationError` if it cannot answer."""

    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        # No retries: an unreachable Prometheus must be reported, not waited out.
        self._client = PrometheusConnect(url=self.url, retry=Retry(total=0), timeout=timeout_s)

    def values(self, query: str) -> list[float]:
        """The current value of every series ``query`` returns; empty when there are none."""
        result = self._call(self._client.custom_query, query)
        return [v for v in (_number(item.get("value")) for item in result) if v is not None]

    def range_values(
        self, query: str, start: datetime, end: datetime, step_s: float
    ) -> dict[float, list[float]]:
        """Values of every series at each step from ``start``, to the millisecond: the
        prometheus-api-client rounds ``start`` to whole seconds, which put every recovery up
        to a second late, so this asks the HTTP API itself."""
        params = {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step_s:g}",
        }
        result = self._api("/api/v1/query_range", params)["result"]
        by_time: dict[float, list[float]] = {}
        for series in result:
            for stamp, raw in series.get("values", []):
                value = _number([stamp, raw])
                if value is not None:
                    by_time.setdefault(float(stamp), []).append(value)
        return dict(sorted(by_time.items()))

    def sample_times(self, selector: str, since: datetime) -> list[float]:
        """The timestamps of the raw samples of ``selector`` since ``since``: each one the
        moment Prometheus scraped or, for ``ALERTS``, evaluated it."""
        seconds = max(1, math.ceil(datetime.now(since.tzinfo).timestamp() - since.timestamp()) + 1)
        result = self._api("/api/v1/query", {"query": f"{selector}[{seconds}s]"})["result"]
        stamps = [float(t) for series in result for t, _ in series.get("values", [])]
        return sorted(t for t in stamps if t >= since.timestamp())

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) with their ``activeAt``."""
        return list(self._api("/api/v1/alerts")["alerts"])

    def alert_rules(self) -> dict[str, float]:
        """Loaded alerting rules: alert name -> its ``for`` in seconds."""
        rules: dict[str, float] = {}
        for group in self._api("/api/v1/rules")["groups"]:
            for rule in group["rules"]:
                if rule.get("type") == "alerting":
                    rules[rule["name"]] = float(rule.get("duration", 0))
        return rules

    def intervals(self) -> tuple[float, float]:
        """The live global scrape and evaluation intervals, in seconds."""
        config = yaml.safe_load(self._api("/api/v1/status/config")["yaml"]) or {}
        glob = config.get("global", {})
        return (
            parse_duration(glob.get("scrape_interval", "1m")),
            parse_duration(glob.get("evaluation_interval", "1m")),
        )

    def _api(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = requests.get(self.url + path, params=params, timeout=self.timeout_s)
            response.raise_for_status()
            return dict(response.json()["data"])
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise ObservationError(
                f"Prometheus at {self.url} did not answer {path}: {exc}"
            ) from exc

    def _call(self, method: Any, *args: Any) -> list[dict[str, Any]]:
        try:
            return list(method(*args))
        except (requests.RequestException, PrometheusApiClientException, ValueError) as exc:
            raise ObservationError(f"Prometheus at {self.url} did not answer: {exc}") from exc


def _number(value: Any) -> float | None:
    if not value or len(value) < 2:
        return None
    number = float(value[1])
    return None if math.isnan(number) else number
