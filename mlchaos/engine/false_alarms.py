"""False alarms: pages and automated rollbacks while no fault was in.

Before the first fault, under nothing but the scenario's load, the service should stay quiet.
A page or a rollback then is the monitoring crying wolf (at 500 req/s a p99 rule once paged
and rolled a good version back during the ramp-up), and it fails the game day: the service
deviated, whatever the experiments found afterwards.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from mlchaos.errors import ObservationError, TargetError
from mlchaos.journal import parse_time
from mlchaos.observe import adapters
from mlchaos.service import Service

__all__ = ["false_alarms", "look_for_false_alarms"]


def false_alarms(
    incidents: list[dict[str, Any]],
    audit: list[dict[str, Any]],
    since: datetime,
    until: datetime,
    inherited: AbstractSet[str] = frozenset(),
) -> list[str]:
    """What paged or rolled back between ``since`` and ``until``, when no fault was in.

    Pages of ``inherited`` alerts, already active before the game day began, are not its
    doing: a previous run's lingering effect is noted in the baseline instead.
    """
    found = [
        f"page {i['id']} at {i['triggered_at']} ({_alert(i)}) with no fault injected"
        for i in incidents
        if since <= parse_time(i["triggered_at"]) < until and _alert(i) not in inherited
    ]
    found += [
        f"rollback of {e['model']} from {e['from_version']} at {e['at']} by {e['actor']} "
        f"({e.get('reason') or 'no reason'}) with no fault injected"
        for e in audit
        if e["action"] == "rollback" and since <= parse_time(e["at"]) < until
    ]
    return found


def look_for_false_alarms(
    service: Service,
    since: datetime,
    until: datetime,
    inherited: AbstractSet[str] = frozenset(),
) -> list[str]:
    """Read the pager and the registry; raises `ObservationError` when either cannot be read."""
    pages = (
        adapters.pager(service).since(service.pagerduty_service, since) if service.has_pager else []
    )
    try:
        audit = adapters.registry(service).audit(service.model) if service.registry_url else []
    except TargetError as exc:
        raise ObservationError(f"registry at {service.registry_url}: {exc}") from exc
    return false_alarms(pages, audit, since, until, inherited)


def _alert(incident: dict[str, Any]) -> str:
    return str((incident.get("custom_details") or {}).get("alertname", "?"))
