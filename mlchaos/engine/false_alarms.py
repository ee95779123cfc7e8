"""False alarms: pages, rollbacks and changes of what is served while no fault was in.

Before the first fault, under nothing but the scenario's load, a service that serves should stay
quiet. A page or a rollback then is the monitoring crying wolf (at 500 req/s a p99 rule once
paged and rolled a good version back during the ramp-up), and it fails the game day: the
service deviated, whatever the experiments found afterwards.

Two things are never called false alarms:

- a page while the service was not shown serving mlchaos's load: when the model server rejects
  the payload, its error alerts are right, and the game day is *inconclusive* instead, naming
  the error share and the status codes (same Wilson bound as the steady-state check);
- nothing, when a source could not be read: the check then says *cannot tell*, and the game
  day cannot pass on it.

    >>> start = check_quiet_start(service, since, until, inherited, min_success=0.9)
    >>> start.status, start.alarms
    ('checked', [])
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.journal import parse_time
from mlchaos.observe import adapters, serving
from mlchaos.service import Service

__all__ = ["QuietStart", "check_quiet_start", "false_alarms", "served_changes"]

Status = Literal["checked", "cannot tell", "not serving"]


@dataclass
class QuietStart:
    """What the check before the first fault found, and whether it could look at all."""

    status: Status = "checked"
    alarms: list[str] = field(default_factory=list)
    reason: str | None = None
    """Why it could not tell, or why the service was not serving."""
    sources: list[str] = field(default_factory=list)
    """What it read: the pager, the registry's audit log, the gateway's answers."""

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "sources": self.sources}


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
        f"{_moved(e)} at {e['at']} by {e['actor']} "
        f"({e.get('reason') or 'no reason'}) with no fault injected"
        for e in audit
        if e["action"] in ("rollback", "fallback_on") and since <= parse_time(e["at"]) < until
    ]
    return found


def served_changes(rows: list[tuple[int, str, int]], since: float, until: float) -> list[str]:
    """Versions the gateway saw start answering while no fault was in, that did not answer
    when the load began: what is served changed (a rollback, a fallback) with nothing to
    mitigate. What already served at the start was inherited, not caused: the baseline says
    so, and the restore before the first experiment deals with it."""
    window = sorted((s, v, n) for s, v, n in rows if since - 1 < s < until)
    if not window:
        return []
    first = window[0][0]
    initial = {v for s, v, _ in window if s <= first + 1}
    total = sum(n for _, _, n in window)
    new: dict[str, tuple[int, int]] = {}
    for second, version, n in window:
        if version not in initial:
            at, count = new.get(version, (second, 0))
            new[version] = (at, count + n)
    return [
        f"version {version} started answering at {datetime.fromtimestamp(at, UTC).isoformat()} "
        f"({n} of {total} requests) with no fault injected: what is served changed"
        for version, (at, n) in sorted(new.items())
    ]


def check_quiet_start(
    service: Service,
    since: datetime,
    until: datetime,
    inherited: AbstractSet[str] = frozenset(),
    min_success: float = 0.9,
) -> QuietStart:
    """Read the gateway, the pager and the registry between the load's start and the first
    fault. Not serving mlchaos's load comes first: then no page is a false alarm."""
    start = QuietStart(sources=["gateway answers"])
    try:
        rows, _ = adapters.traffic(service).outcomes(since.timestamp())
        window = [r for r in rows if since.timestamp() - 1 < r[0] < until.timestamp()]
        answered, ok = serving.share(window)
        if ok is None:
            return QuietStart("cannot tell", reason="no request reached the gateway before it")
        if serving.shown_below(ok, answered, min_success):
            codes = adapters.traffic(service).codes(since.timestamp())
            return QuietStart("not serving", reason=_not_serving(ok, answered, codes))
        versions = adapters.traffic(service).versions(since.timestamp())
        start.alarms += served_changes(versions, since.timestamp(), until.timestamp())
    except MlchaosError as exc:
        return QuietStart("cannot tell", reason=f"the gateway could not be read: {exc}")
    try:
        start.alarms += _pages_and_moves(service, since, until, inherited, start.sources)
    except MlchaosError as exc:
        return QuietStart("cannot tell", reason=str(exc), sources=start.sources)
    return start


def _pages_and_moves(
    service: Service,
    since: datetime,
    until: datetime,
    inherited: AbstractSet[str],
    sources: list[str],
) -> list[str]:
    pages: list[dict[str, Any]] = []
    if service.has_pager:
        pages = adapters.pager(service).since(service.pagerduty_service, since)
        sources.append("the pager")
    audit: list[dict[str, Any]] = []
    if service.registry_url is not None:
        try:
            audit = adapters.registry(service).audit(service.model)
        except TargetError as exc:
            raise MlchaosError(f"registry at {service.registry_url}: {exc}") from exc
        kind = service.adapters.registry
        sources.append(
            "the registry's audit log"
            if kind == "mlchaos"
            else f"no audit log ({kind} keeps none: the gateway's answers stand in)"
        )
    return false_alarms(pages, audit, since, until, inherited)


def _not_serving(ok: float, answered: int, codes: dict[int, int]) -> str:
    failed = ", ".join(f"{code} ×{n}" for code, n in sorted(codes.items()) if not 200 <= code < 300)
    return (
        f"the service was not serving mlchaos's load ({1 - ok:.0%} errors of {answered} "
        f"requests before any fault: {failed or 'no error code recorded'}): fix the payload or "
        "the service; its alerts were right, so no page is called a false alarm"
    )


def _moved(entry: dict[str, Any]) -> str:
    if entry["action"] == "fallback_on":
        return f"switch of {entry['model']} to the fallback"
    return f"rollback of {entry['model']} from {entry['from_version']}"


def _alert(incident: dict[str, Any]) -> str:
    return str((incident.get("custom_details") or {}).get("alertname", "?"))
