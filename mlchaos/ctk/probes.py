"""Chaos Toolkit probes: steady-state checks and waits for each timeline event.

Each wait polls until its event's owner reports it or ``give_up_after_s`` after injection
passes, then records the event (or why it is missing) in the run journal. It returns True when
the event happened, so it can also serve as a tolerance in raw Chaos Toolkit experiments.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlchaos.engine.journal import journal_from
from mlchaos.faults import kind_of
from mlchaos.faults.bad_version import ACTOR
from mlchaos.observe import events, slo
from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.pagerduty import Incidents
from mlchaos.observe.prometheus import Prometheus
from mlchaos.observe.registry import RegistryClient
from mlchaos.schema import Slo
from mlchaos.service import Service

__all__ = [
    "fault_active",
    "slo_holds",
    "wait_for_acknowledgement",
    "wait_for_alert",
    "wait_for_mitigation",
    "wait_for_page",
    "wait_for_recovery",
]

Configuration = dict[str, Any] | None


def _window(configuration: Configuration, give_up_after_s: float) -> tuple[Any, Any, Any]:
    """The journal, the injection time and the deadline every wait shares."""
    journal = journal_from(configuration)
    injected = events.injected_or_fail(journal)
    return journal, injected, injected + timedelta(seconds=give_up_after_s)


def slo_holds(
    prometheus_url: str,
    name: str,
    query: str,
    below: float | None = None,
    above: float | None = None,
    role: str = "slo",
    configuration: Configuration = None,
) -> bool:
    """True when ``query`` returns a value below ``below`` (or above ``above``) now."""
    objective = Slo(name=name, query=query, below=below, above=above)
    return slo.check(journal_from(configuration), Prometheus(prometheus_url), objective, role)


def fault_active(
    fault: dict[str, Any], service: dict[str, Any], configuration: Configuration = None
) -> bool:
    """True once the injected fault is observably live (requests are affected by it).

    With the mlchaos control, a False here interrupts the method (the rollbacks still run):
    waiting for reactions to an inactive fault would measure nothing.
    """
    from mlchaos.ctk.actions import FAULT

    parsed = FAULT.validate_python(fault)
    target = Service.model_validate(service)
    return kind_of(parsed).confirm(journal_from(configuration), target, parsed)


def wait_for_alert(
    prometheus_url: str, alert: str, give_up_after_s: float, configuration: Configuration = None
) -> bool:
    """Wait for ``alert`` to become active after injection (detection)."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    look = events.detected(Prometheus(prometheus_url), alert, injected)
    return events.wait_for(journal, "detected", f"firing of alert {alert}", deadline, look)


def wait_for_page(
    pagerduty_url: str,
    service: str,
    give_up_after_s: float,
    ca_file: str | None = None,
    alert: str | None = None,
    configuration: Configuration = None,
) -> bool:
    """Wait for an incident on the PagerDuty ``service`` after injection (paging), for
    ``alert`` when given."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    look = events.paged(Incidents(pagerduty_url, _path(ca_file)), service, injected, alert)
    return events.wait_for(journal, "paged", f"incident on {service}", deadline, look)


def wait_for_acknowledgement(
    pagerduty_url: str,
    service: str,
    give_up_after_s: float,
    ca_file: str | None = None,
    configuration: Configuration = None,
) -> bool:
    """Wait for the incident that paged to be acknowledged."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    page = next((r for r in journal.read() if r["type"] == "event" and r["event"] == "paged"), None)
    if page is None:
        journal.write(
            "missed",
            event="acknowledged",
            status="timeout",
            reason="nothing paged, so nothing could be acknowledged",
        )
        return False
    incidents = Incidents(pagerduty_url, _path(ca_file))
    look = events.acknowledged(incidents, service, injected, page["detail"]["incident"])
    return events.wait_for(journal, "acknowledged", "acknowledgement", deadline, look)


def wait_for_mitigation(
    by: str,
    service: dict[str, Any],
    give_up_after_s: float,
    configuration: Configuration = None,
) -> bool:
    """Wait for the mitigation ``by`` names, done by anyone but mlchaos itself.

    ``rollback``: a registry rollback away from the injected version. ``fallback``: the
    gateway routing traffic to the fallback model. ``retrain``: a retrain request in the
    registry's audit log.
    """
    journal, injected, deadline = _window(configuration, give_up_after_s)
    target = Service.model_validate(service)
    registry = RegistryClient(target.registry_url or "")
    if by == "rollback":
        version = _injected_detail(journal).get("version", "")
        look = events.mitigated(registry, target.model, version, injected, ignore_actor=ACTOR)
        what = f"rollback of {target.model}"
    elif by == "retrain":
        look = events.retrain_requested(registry, target.model, injected, ignore_actor=ACTOR)
        what = f"retrain request for {target.model}"
    else:
        look = events.routed_to_fallback(GatewayClient(target.gateway_url), injected, ACTOR)
        what = "switch to the fallback"
    return events.wait_for(journal, "mitigated", what, deadline, look)


def _injected_detail(journal: Any) -> dict[str, Any]:
    for record in journal.read():
        if record["type"] == "event" and record["event"] == "injected":
            return dict(record.get("detail") or {})
    return {}


def wait_for_recovery(
    prometheus_url: str,
    slos: list[dict[str, Any]],
    give_up_after_s: float,
    step_s: float = 1.0,
    stable_for_s: float = 3.0,
    configuration: Configuration = None,
) -> bool:
    """Wait until every SLO holds again, stably, after its breach (recovery)."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    objectives = tuple(Slo.model_validate(s) for s in slos)
    look = events.recovered(Prometheus(prometheus_url), objectives, injected, step_s, stable_for_s)
    return events.wait_for(journal, "recovered", "SLO recovery", deadline, look)


def _path(ca_file: str | None) -> Any:
    from pathlib import Path

    return Path(ca_file) if ca_file else None
