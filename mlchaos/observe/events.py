"""Wait for each timeline event and record it with the time its owner gives.

Polling only decides when to stop waiting: every recorded time comes from the system that owns
the event (Prometheus ``activeAt``, the PagerDuty receiver, the registry audit log, Prometheus
samples). An event not seen by the deadline is recorded as ``missed`` with the reason:
``timeout``, ``unreachable`` (its owner could not be read, so nothing can be concluded) or
``undefined`` (nothing could ever produce it, such as an alert no rule defines).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlchaos.errors import MlchaosError, ObservationError
from mlchaos.journal import EventRecord, Journal, Missed, parse_time
from mlchaos.observe import serving, versions
from mlchaos.observe.adapters import Metrics, ModelRegistry, Pager, TrafficFaults
from mlchaos.observe.slo import recovered_at
from mlchaos.schema import Slo
from mlchaos.vocabulary import Event

__all__ = [
    "POLL_S",
    "PROGRESS_EVERY_S",
    "Seen",
    "Undefined",
    "acknowledged",
    "detected",
    "fired",
    "injected_or_fail",
    "mitigated",
    "paged",
    "recovered",
    "retrain_requested",
    "routed_to_fallback",
    "served_off",
    "wait_for",
]

POLL_S = 0.25
PROGRESS_EVERY_S = 2.0
progress = logging.getLogger("mlchaos.progress")


@dataclass(frozen=True)
class Seen:
    time: str
    source: str
    detail: dict[str, Any] = field(default_factory=dict)


class Undefined(MlchaosError):
    """The event can never happen, so waiting for it is pointless."""


def wait_for(
    journal: Journal,
    event: Event,
    what: str,
    deadline: datetime,
    look: Callable[[], Seen | None],
    depends: Callable[[], str | None] | None = None,
) -> bool:
    """Poll ``look`` until it sees ``event`` or ``deadline`` passes; record either outcome.

    ``depends`` says why a component the event needs is down, if one is: an event that could
    not have happened for that reason is recorded as ``unreachable``, not as a timeout.
    """
    injected = journal.event_time("injected")
    last_note = 0.0
    while True:
        if journal.stop_marker.exists():
            reason = "not waited for: a stop condition ended the fault"
            journal.write(Missed(event=Event(event), status="stopped", reason=reason))
            progress.info("  ■ %-12s %s", event, reason)
            return False
        unreachable = None
        try:
            seen = look()
        except ObservationError as exc:
            seen, unreachable = None, str(exc)
        except Undefined as exc:
            journal.write(Missed(event=Event(event), status="undefined", reason=str(exc)))
            progress.info("  ✗ %s: %s", event, exc)
            return False
        if seen is not None:
            journal.write(
                EventRecord(
                    event=Event(event), time=seen.time, source=seen.source, detail=seen.detail
                )
            )
            offset = _offset(injected, parse_time(seen.time))
            progress.info("  ✓ %-12s %s  (%s)", event, offset, seen.source)
            return True
        now = datetime.now(UTC)
        if now >= deadline:
            unreachable = unreachable or (depends() if depends else None)
            status: Literal["unreachable", "timeout"] = "unreachable" if unreachable else "timeout"
            reason = unreachable or f"no {what} by {_offset(injected, deadline)}"
            journal.write(Missed(event=Event(event), status=status, reason=reason))
            progress.info("  ✗ %-12s %s", event, reason)
            return False
        if time.monotonic() - last_note >= PROGRESS_EVERY_S:
            last_note = time.monotonic()
            progress.info("    waiting for %s: %s  %s", event, what, _offset(injected, now))
        time.sleep(POLL_S)


def _offset(injected: datetime | None, when: datetime) -> str:
    return f"+{(when - injected).total_seconds():.1f}s" if injected else when.isoformat()


def injected_or_fail(journal: Journal) -> datetime:
    injected = journal.event_time("injected")
    if injected is None:
        raise MlchaosError(
            f"no 'injected' event in {journal.path}: inject a fault before waiting for events"
        )
    return injected


def detected(prometheus: Metrics, alert: str, injected: datetime) -> Callable[[], Seen | None]:
    """The first activation of ``alert`` after injection, per Prometheus's ``activeAt``."""

    def look() -> Seen | None:
        rules = prometheus.alert_rules()
        if alert not in rules:
            loaded = ", ".join(sorted(rules)) or "none"
            raise Undefined(f"no loaded alerting rule defines {alert} (loaded: {loaded})")
        active = [
            a
            for a in prometheus.alerts()
            if a["labels"].get("alertname") == alert and parse_time(a["activeAt"]) >= injected
        ]
        if not active:
            return None
        first = min(active, key=lambda a: parse_time(a["activeAt"]))
        return Seen(
            first["activeAt"],
            "prometheus alert activeAt",
            {"labels": first["labels"], "for_s": rules[alert], "state": first["state"]},
        )

    return look


def fired(prometheus: Metrics, alert: str, injected: datetime) -> Callable[[], Seen | None]:
    """The first evaluation after injection at which ``alert`` was firing: the first sample of
    Prometheus's own ``ALERTS{alertstate="firing"}`` series, stamped by the rule evaluation."""

    def look() -> Seen | None:
        selector = f'ALERTS{{alertname="{alert}",alertstate="firing"}}'
        stamps = prometheus.sample_times(selector, injected)
        if not stamps:
            return None
        at = datetime.fromtimestamp(stamps[0], UTC)
        return Seen(at.isoformat(), "prometheus ALERTS series (firing)", {"alert": alert})

    return look


def paged(
    incidents: Pager, service: str, injected: datetime, alert: str | None = None
) -> Callable[[], Seen | None]:
    """The first incident on ``service`` after injection for ``alert``, per the receiver.

    An incident whose details name another alert belongs to something else (a late effect
    of an earlier experiment, say); one that names no alert is taken as it comes.
    """

    def look() -> Seen | None:
        found = [
            i
            for i in incidents.since(service, injected)
            if alert is None or (i.get("custom_details") or {}).get("alertname") in (None, alert)
        ]
        if not found:
            return None
        first = min(found, key=lambda i: i["triggered_at"])
        return Seen(
            first["triggered_at"],
            f"{incidents.source} incident triggered",
            {"incident": first["id"], "summary": first["summary"]},
        )

    return look


def acknowledged(
    incidents: Pager, service: str, injected: datetime, incident_id: str
) -> Callable[[], Seen | None]:
    """The acknowledgement of the incident that paged, as the receiver recorded it."""

    def look() -> Seen | None:
        for incident in incidents.since(service, injected):
            if incident["id"] == incident_id and incident["acknowledged_at"]:
                return Seen(
                    incident["acknowledged_at"],
                    f"{incidents.source} incident acknowledged",
                    {"incident": incident_id},
                )
        return None

    return look


def mitigated(
    registry: ModelRegistry, model: str, version: str, injected: datetime, ignore_actor: str
) -> Callable[[], Seen | None]:
    """The first rollback away from ``version`` by anyone but mlchaos, per the audit log."""

    def look() -> Seen | None:
        for entry in registry.audit(model):
            if (
                entry["action"] == "rollback"
                and entry["from_version"] == version
                and entry["actor"] != ignore_actor
                and not entry.get("lease_id")
                and parse_time(entry["at"]) >= injected
            ):
                return Seen(
                    entry["at"],
                    f"registry audit log (rollback by {entry['actor']})",
                    {"to": entry["to_version"], "reason": entry["reason"]},
                )
        return None

    return look


def served_off(
    gateway: TrafficFaults, version: str, injected: datetime, below: float, stays_for_s: float
) -> Callable[[], Seen | None]:
    """The first moment the share of answers ``version`` gave fell below ``below`` and stayed
    there for ``stays_for_s``, per the gateway, which reads each answer's version: what is
    served, not what the registry says (a rollback that was never deployed is no mitigation)."""

    def look() -> Seen | None:
        rows = gateway.versions(injected.timestamp() - 1)
        since = versions.off_since(
            rows, version, injected.timestamp(), time.time(), below, stays_for_s
        )
        if since is None:
            return None
        return Seen(
            datetime.fromtimestamp(since, UTC).isoformat(),
            f"gateway answers (version {version} below {below:.0%} of answers)",
            {"version": version, "below": below, "stays_for_s": stays_for_s},
        )

    return look


def routed_to_fallback(
    gateway: TrafficFaults, injected: datetime, ignore_actor: str
) -> Callable[[], Seen | None]:
    """The first switch of the gateway to the fallback route, per the gateway's audit log."""

    def look() -> Seen | None:
        for entry in gateway.audit():
            if (
                entry["action"] == "route"
                and entry.get("target") == "fallback"
                and entry["actor"] != ignore_actor
                and parse_time(entry["at"]) >= injected
            ):
                return Seen(
                    entry["at"],
                    f"gateway audit log (fallback by {entry['actor']})",
                    {"reason": entry.get("reason", "")},
                )
        return None

    return look


def retrain_requested(
    registry: ModelRegistry, model: str, injected: datetime, ignore_actor: str
) -> Callable[[], Seen | None]:
    """The first retrain request for ``model`` after injection, per the registry audit log."""

    def look() -> Seen | None:
        for entry in registry.audit(model):
            if (
                entry["action"] == "retrain_requested"
                and entry["actor"] != ignore_actor
                and parse_time(entry["at"]) >= injected
            ):
                return Seen(
                    entry["at"],
                    f"registry audit log (retrain by {entry['actor']})",
                    {"reason": entry["reason"]},
                )
        return None

    return look


def recovered(
    prometheus: Metrics,
    slos: tuple[Slo, ...],
    injected: datetime,
    step_s: float,
    stable_for_s: float,
    gateway: TrafficFaults | None = None,
    min_success: float = 0.9,
) -> Callable[[], Seen | None]:
    """The first Prometheus sample from which every SLO held again for ``stable_for_s`` and,
    with ``gateway``, from which the gateway served again (see `mlchaos.observe.serving`):
    the later of the two."""

    def look() -> Seen | None:
        now = datetime.now(UTC)
        at, breached = recovered_at(prometheus, slos, injected, now, step_s, stable_for_s)
        if at is None:
            return None
        detail: dict[str, Any] = {"breached": breached, "stable_for_s": stable_for_s}
        source = "prometheus SLO samples"
        if gateway is not None:
            rows, clock = gateway.outcomes(injected.timestamp())
            back = serving.back_since(rows, injected.timestamp(), clock, min_success)
            if back is None:
                return None  # no successful answer yet since the last failing second
            serving_since = datetime.fromtimestamp(back, UTC)
            detail["serving_since"] = serving_since.isoformat()
            if serving_since > at:  # the time is the gateway's, and the source says so
                at, source = serving_since, "gateway answers (2xx share back above min_success)"
        return Seen(at.isoformat(), source, detail)

    return look
