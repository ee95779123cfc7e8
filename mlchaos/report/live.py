"""The live view a human game day shows: for the current experiment, the clock against each
target, which events have happened, the open pages and the runbook to follow.

>>> print("\\n".join(live_lines(journal.read(), incidents, now)))
── bad-version-inverted  +12.3s
  ✓ detected      +2.6s   target ≤5s
  … acknowledged          target ≤30s after the page: 22.1s left
  page P00003 ModelPredictionShift: acknowledge with `mlchaos ack P00003`
  runbook: file:///srv/mlchaos/runbooks/bad-version.md
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlchaos.journal import EventRecord, Record, RunStarted, parse_time
from mlchaos.vocabulary import FROM_PAGE, TARGET_OF_EVENT, Event, shown_events

__all__ = ["live_lines"]


def live_lines(records: list[Record], incidents: list[dict[str, Any]], now: datetime) -> list[str]:
    started = next((r for r in records if isinstance(r, RunStarted)), None)
    if started is None:
        return []
    times: dict[str, datetime] = {
        r.event: parse_time(r.time) for r in records if isinstance(r, EventRecord)
    }
    injected = times.get(Event.INJECTED)
    if injected is None:
        return [f"── {started.experiment}: injecting {started.fault}…"]
    targets = started.targets
    lines = [f"── {started.experiment}  +{(now - injected).total_seconds():.1f}s"]
    for event in shown_events(times, targets)[1:]:
        lines.append(_event_line(event, times, targets, injected, now))
    for incident in incidents:
        lines.append(_page_line(incident))
    links = {link["href"] for i in incidents for link in i.get("links") or [] if link.get("href")}
    lines += [f"  runbook: {href}" for href in sorted(links)]
    return lines


def _event_line(
    event: str,
    times: dict[str, datetime],
    targets: dict[str, float],
    injected: datetime,
    now: datetime,
) -> str:
    at = times.get(event)
    deadline, target = _deadline(event, times, targets, injected)
    if at is not None:
        took = (at - injected).total_seconds()
        late = deadline is not None and at > deadline
        return f"  {'✗' if late else '✓'} {event:<13}+{took:.1f}s  {target}".rstrip()
    if deadline is None:
        return f"  … {event:<13}        {target}".rstrip()
    left = (deadline - now).total_seconds()
    clock = f"{left:.1f}s left" if left >= 0 else f"{-left:.1f}s OVER"
    return f"  … {event:<13}        {target}: {clock}"


def _deadline(
    event: str, times: dict[str, datetime], targets: dict[str, float], injected: datetime
) -> tuple[datetime | None, str]:
    span = FROM_PAGE.get(event)
    if span is not None and span in targets:
        paged = times.get(Event.PAGED)
        text = f"target ≤{targets[span]:g}s after the page"
        return (paged + timedelta(seconds=targets[span]) if paged else None), text
    key = TARGET_OF_EVENT.get(event)
    if key is None or key not in targets:
        return None, ""
    return injected + timedelta(seconds=targets[key]), f"target ≤{targets[key]:g}s"


def _page_line(incident: dict[str, Any]) -> str:
    alert = (incident.get("custom_details") or {}).get("alertname", "")
    head = f"  page {incident['id']} {alert} ({incident['status']})"
    if incident["status"] == "triggered":
        return f"{head}: acknowledge with `mlchaos ack {incident['id']}` or in PagerDuty"
    return head
