"""`mlchaos init`: a starter service file and experiments, from what a running Prometheus says
it has: its loaded alert rules, the metrics it holds, its intervals.

Each alert whose rule says what it watches (latency, errors) gets an experiment with the fault
that should set it off, when the rule reads a metric that fault can reach (a gateway fault:
the gateway's own metrics, `mlchaos.faults.reach`); the others are listed with the reason, to
be written by hand. The service file pages where Alertmanager's PagerDuty receiver sends.
Every file it writes validates, and every guess is marked as one in a comment.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from mlchaos.access import Access
from mlchaos.errors import MlchaosError
from mlchaos.faults.reach import EDGE_PREFIX, blind_spot
from mlchaos.observe.adapters import Metrics

__all__ = ["GATEWAY_METRIC", "Starter", "guess_fault", "starter"]

GATEWAY_METRIC = "mlchaos_gateway_requests_total"
_GUESSES = (
    (re.compile(r"latency|duration|slow|p9\d|quantile|_seconds", re.I),
     {"type": "latency_spike", "delay": "600ms", "share": "100%", "ttl": "3m"}),
    (re.compile(r"error|fail|5\.\.|status_code|code=~\"5", re.I),
     {"type": "error_burst", "status": 503, "share": "20%", "seed": 7, "ttl": "3m"}),
)  # fmt: skip


def guess_fault(rule: dict[str, Any]) -> dict[str, Any] | None:
    """The fault that should set ``rule`` off, judged from its name and expression; None
    when neither says.

    >>> guess_fault({"name": "EdgeLatencyHigh", "query": "histogram_quantile(0.99, x) > 0.5"})
    {'type': 'latency_spike', 'delay': '600ms', 'share': '100%', 'ttl': '3m'}
    """
    text = f"{rule.get('name', '')} {rule.get('query', '')}"
    return next((dict(fault) for pattern, fault in _GUESSES if pattern.search(text)), None)


@dataclass
class Starter:
    """What `starter` made: file name → YAML text, and the alerts left to the team, each with
    why no fault was guessed for it."""

    files: dict[str, str] = field(default_factory=dict)
    unmatched: dict[str, str] = field(default_factory=dict)


def starter(
    metrics: Metrics,
    name: str,
    model: str,
    urls: dict[str, str],
    access: Access,
    pager_service: str | None = None,
    pager_url: str | None = None,
) -> Starter:
    """Files for the staging whose Prometheus is ``metrics``; ``urls`` names the gateway,
    Prometheus and Alertmanager, ``access`` how to reach the latter two; ``pager_url`` is
    where Alertmanager's PagerDuty receiver sends events, when it names one."""
    scrape, evaluation = metrics.intervals()
    window = f"{max(4 * scrape, 5):g}s"
    made = Starter()
    made.files["service.yaml"] = _service(
        name, model, urls, access, pager_service, window, pager_url
    )
    edge = _gateway_seen(metrics, urls["gateway"])
    for rule in sorted(metrics.alerting_rules(), key=lambda r: str(r.get("name"))):
        alert = str(rule.get("name"))
        fault = guess_fault(rule)
        if fault is None:
            made.unmatched[alert] = "its rule does not say what it watches (latency, errors)"
            continue
        blind = blind_spot(fault["type"], str(rule.get("query", "")))
        if blind is not None:
            made.unmatched[alert] = (
                f"it reads only {', '.join(blind)}, which a gateway {fault['type']} cannot "
                f"reach (the gateway acts before the model); {EDGE_PREFIX}* metrics can, and a "
                "body fault the server rejects (schema_change, missing_features) can reach an "
                "error rule on the server's own counters"
            )
            continue
        floor = scrape + evaluation + float(rule.get("duration") or 0)
        made.files[f"experiments/{_slug(alert)}.yaml"] = _experiment(
            alert, rule, fault, model, window, floor, pager_service, edge
        )
    return made


def _gateway_seen(metrics: Metrics, gateway: str) -> bool:
    """The gateway's metrics are in Prometheus, or Prometheus scrapes it (a counter with no
    request served yet has no series: that is not a missing scrape)."""
    if GATEWAY_METRIC in set(metrics.metric_names()):
        return True
    address = urlsplit(gateway).netloc
    try:
        return bool(metrics.values(f'up{{instance="{address}"}} == 1'))
    except MlchaosError:
        return False


def _service(
    name: str, model: str, urls: dict[str, str], access: Access, pager: str | None, window: str,
    pager_url: str | None = None,
) -> str:  # fmt: skip
    def endpoint(kind: str) -> Any:
        if access.empty:
            return urls[kind]
        written: dict[str, Any] = {"url": urls[kind]}
        if access.password_env:
            written["basic_auth"] = {
                "username": access.username,
                "password_env": access.password_env,
            }
        if access.bearer_token_env:
            written["bearer_token_env"] = access.bearer_token_env
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(access, key):
                written[key] = getattr(access, key)
        return written

    document: dict[str, Any] = {
        "version": 1, "name": _slug(name), "model": model, "environment": "staging",
        "endpoints": {"gateway": urls["gateway"], "prometheus": endpoint("prometheus"),
                      "alertmanager": endpoint("alertmanager")},
        "traffic_query": f'sum(rate({GATEWAY_METRIC}{{model="{model}"}}[{window}]))',
    }  # fmt: skip
    if pager:
        document["pagerduty"] = {"service": pager, "routing_key_env": "PAGERDUTY_ROUTING_KEY"}
        if pager_url:  # where Alertmanager sends: a receiver, not events.pagerduty.com
            document["pagerduty"]["url"] = pager_url
    head = (
        "# A starter service file, written by `mlchaos init` from what Prometheus holds.\n"
        "# Still to do: set payload (the requests the load sends; see the README), and\n"
        "# put the chaos gateway (`mlchaos gateway --upstream YOUR_MODEL`) at endpoints.gateway.\n"
    )
    return head + yaml.safe_dump(document, sort_keys=False)


def _experiment(
    alert: str, rule: dict[str, Any], fault: dict[str, Any], model: str, window: str,
    floor: float, pager: str | None, edge: bool,
) -> str:  # fmt: skip
    errors = f'{GATEWAY_METRIC}{{model="{model}",code=~"5.."}}'
    detect = max(15, math.ceil(2 * floor + 5))
    expect: dict[str, Any] = {"detection": {"alert": alert, "within": f"{detect}s"}}
    if pager:
        expect["paging"] = {"service": pager, "within": f"{detect + 15}s"}
        expect["acknowledgement"] = {"within": "5m"}
    document = {
        "version": 1, "name": _slug(alert), "title": f"{fault['type']} to set off {alert}",
        "fault": fault,
        "steady_state": [{
            "name": "edge-error-ratio",
            "query": f"(sum(rate({errors}[{window}])) or vector(0)) / "
                     f'sum(rate({GATEWAY_METRIC}{{model="{model}"}}[{window}]))',
            "below": 0.01,
        }],
        "expect": expect,
    }  # fmt: skip
    note = (
        ""
        if edge
        else (
            f"# Prometheus does not scrape the chaos gateway: add its /metrics, which give\n"
            f"# {GATEWAY_METRIC}, to a scrape job.\n"
        )
    )
    head = (
        f"# Written by `mlchaos init`: {alert}'s rule reads like one a {fault['type']} fault\n"
        "# sets off. That is a guess: check it. Targets are starters above the floor.\n"
    )
    return head + note + yaml.safe_dump(document, sort_keys=False)


def _slug(name: str) -> str:
    """``FraudEdgeLatencyHigh`` → ``fraud-edge-latency-high``: a valid experiment name."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    return re.sub(r"[^a-z0-9._-]+", "-", spaced.lower()).strip("-._")[:80] or "service"
