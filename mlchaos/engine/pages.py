"""Every page an experiment caused, its own and the collateral, read from the pager.

An experiment's window of pages runs from its injection until the next experiment is injected
or, for the last one, until the game day's final cool-down ends: a page that arrives after the
revert (a late accuracy alert, say) still belongs to it. Each page is kept with its alert, its
times and whether anyone acknowledged it.

The rule for collateral pages: a page for any alert but the experiment's detection alert is
*collateral*. It is reported (results, postmortem, HTML), its runbook steps are kept apart from
the experiment's, and it never changes the experiment's verdict: the experiment judges whether
*its* alert paged in time. A failed step of a collateral page's runbook is still an action item.

    >>> result.pages = pages_in_window(incidents, experiment, result, until)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlchaos.journal import parse_time
from mlchaos.vocabulary import PageRole

__all__ = ["page_record", "pages_in_window", "split_steps"]


def pages_in_window(
    incidents: list[dict[str, Any]], alert: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The incidents triggered in ``[since, until)``, each as a page record, oldest first."""
    found = [
        page_record(i, alert) for i in incidents if since <= parse_time(i["triggered_at"]) < until
    ]
    return sorted(found, key=lambda p: str(p["triggered_at"]))


def page_record(incident: dict[str, Any], alert: str) -> dict[str, Any]:
    name = _alert_of(incident)
    return {
        "id": incident["id"],
        "alert": name,
        "role": PageRole.EXPERIMENT if name in (None, alert) else PageRole.COLLATERAL,
        "summary": incident.get("summary", ""),
        "triggered_at": incident["triggered_at"],
        "acknowledged_at": incident.get("acknowledged_at"),
        "resolved_at": incident.get("resolved_at"),
        "acknowledged": bool(incident.get("acknowledged_at")),
    }


def split_steps(
    steps: list[dict[str, Any]], alert: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runbook steps run for the experiment's own pages, and those run for collateral ones."""
    own = [s for s in steps if s.get("alert") in (None, alert)]
    return own, [s for s in steps if s.get("alert") not in (None, alert)]


def _alert_of(incident: dict[str, Any]) -> str | None:
    name = (incident.get("custom_details") or {}).get("alertname")
    return str(name) if name else None
