"""Prometheus, through prometheus-api-client for queries and its HTTP API for alerts and rules."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
import yaml
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from mlchaos.access import Access, refused, why
from mlchaos.errors import ObservationError
from mlchaos.schema.units import parse_duration

__all__ = ["Prometheus"]


class Prometheus:
    """One Prometheus server. Every method raises `ObservationError` if it cannot answer."""

    def __init__(self, url: str, access: Access | None = None, timeout_s: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.access = access or Access()
        self.timeout_s = timeout_s
        self._session = self.access.session()
        # No retries: an unreachable Prometheus must be reported, not waited out.
        self._client = PrometheusConnect(
            url=self.url, retry=Retry(total=0), timeout=timeout_s, session=self._session,
            auth=self._session.auth,
        )  # fmt: skip

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

    def alerting_rules(self) -> list[dict[str, Any]]:
        """Every loaded alerting rule as the rules API gives it (``name``, ``query``,
        ``duration``, ``labels``), with its group's ``interval``."""
        return [
            {**rule, "interval": group.get("interval")}
            for group in self._api("/api/v1/rules")["groups"]
            for rule in group.get("rules", [])
            if rule.get("type") == "alerting"
        ]

    def metric_names(self) -> list[str]:
        """Every metric name Prometheus holds series of."""
        return [str(name) for name in self._data("/api/v1/label/__name__/values")]

    def label_values(self, since: datetime) -> dict[str, list[str]]:
        """Every label's values among the series Prometheus stored since ``since``."""
        window = {"start": f"{since.timestamp():.3f}", "end": f"{time.time():.3f}"}
        names = [str(n) for n in self._data("/api/v1/labels", window)]
        return {
            name: [str(v) for v in self._data(f"/api/v1/label/{quote(name, safe='')}/values",
                                              window)]
            for name in names
        }  # fmt: skip

    def intervals(self, alert: str | None = None) -> tuple[float, float]:
        """The scrape and evaluation intervals that bound ``alert``, in seconds, read live: the
        evaluation interval of its rule's group, and the slowest scrape interval among the jobs
        whose metrics its expression reads (among every job when none can be told). Without an
        alert, the global intervals. `ObservationError` when the configuration cannot be read
        (managed services do not serve it: then declare them in the service file)."""
        config = yaml.safe_load(self._api("/api/v1/status/config")["yaml"]) or {}
        glob = config.get("global", {})
        scrape = parse_duration(glob.get("scrape_interval", "1m"))
        evaluation = parse_duration(glob.get("evaluation_interval", "1m"))
        if alert is None:
            return scrape, evaluation
        jobs = {
            str(job.get("job_name")): parse_duration(job["scrape_interval"])
            if job.get("scrape_interval")
            else scrape
            for job in config.get("scrape_configs") or []
            if isinstance(job, dict)
        }
        group, query = self._rule_of(alert)
        if group is not None:
            evaluation = group
        read = self._jobs_read(query) & set(jobs) if query else set()
        chosen = [jobs[j] for j in read] or list(jobs.values()) or [scrape]
        return max(chosen), evaluation

    def _rule_of(self, alert: str) -> tuple[float | None, str]:
        """The evaluation interval of ``alert``'s group and its expression; (None, "") when
        no rule defines it."""
        for group in self._api("/api/v1/rules")["groups"]:
            for rule in group.get("rules", []):
                if rule.get("type") == "alerting" and rule.get("name") == alert:
                    interval = group.get("interval")
                    return (float(interval) if interval else None), str(rule.get("query", ""))
        return None, ""

    def _jobs_read(self, query: str) -> set[str]:
        """The jobs whose series hold the metrics ``query`` names."""
        names = _metric_names(query)
        if not names:
            return set()
        selector = "|".join(sorted(names))
        result = self._api(
            "/api/v1/query", {"query": f'count by (job) ({{__name__=~"{selector}"}})'}
        )
        return {str(s.get("metric", {}).get("job")) for s in result.get("result", [])}

    def _api(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return dict(self._data(path, params))

    def _data(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            response = self._session.get(self.url + path, params=params, timeout=self.timeout_s)
            refused("Prometheus", self.url, response, self.access)
            response.raise_for_status()
            return response.json()["data"]
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise ObservationError(
                f"Prometheus at {self.url} did not answer {path}: {why(exc)}"
            ) from exc

    def _call(self, method: Any, *args: Any) -> list[dict[str, Any]]:
        try:
            return list(method(*args))
        except PrometheusApiClientException as exc:
            if "Status Code 401" in str(exc) or "Status Code 403" in str(exc):
                self._api("/api/v1/status/buildinfo")  # says so in one clear line
            raise ObservationError(f"Prometheus at {self.url} did not answer: {exc}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ObservationError(f"Prometheus at {self.url} did not answer: {why(exc)}") from exc


_KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
    ]
)


def _metric_names(query: str) -> set[str]:
    """Bare identifiers in a PromQL expression that are not functions, keywords or labels:
    its metric names, near enough to find the jobs that export them.

    >>> sorted(_metric_names('sum(rate(req_total{code=~"5.."}[1m])) by (job) > bad:ratio'))
    ['bad:ratio', 'req_total']
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", query)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()", text)
    return {m.group(1) for m in found if m.group(1).lower() not in _KEYWORDS}


def _number(value: Any) -> float | None:
    if not value or len(value) < 2:
        return None
    number = float(value[1])
    return None if math.isnan(number) else number
