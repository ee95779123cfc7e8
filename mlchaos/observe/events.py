"""Wait for each timeline event and record it with the time its owner gives, and who caused it.

Polling only decides when to stop waiting: every recorded time comes from the system that owns
the event (Prometheus ``activeAt``, the pager, the answers the gateway saw, Prometheus
samples). An event not seen by the deadline is recorded as ``missed`` with the reason:
``timeout``, ``unreachable`` (its owner could not be read, so nothing can be concluded) or
``undefined`` (nothing could ever produce it, such as an alert no rule defines).

Who caused an event is recorded beside it (`Seen.actor`, `Seen.party`). Mitigation and
recovery are read from what is served; an audit log, where the team's systems keep one, only
names who acted (`attribute`). Anything mlchaos itself did first (its simulated responder's
steps, in the journal) makes the event mlchaos's: simulated, never the team's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlchaos.errors import MlchaosError, ObservationError
from mlchaos.journal import (
    EventRecord,
    Journal,
    LeaseAcquired,
    Missed,
    Responded,
    RolloutWatched,
    RunbookStep,
    parse_time,
)
from mlchaos.observe import rollout, serving, versions
from mlchaos.observe.adapters import Metrics, Pager, TrafficFaults
from mlchaos.observe.slo import recovered_at
from mlchaos.schema import Slo
from mlchaos.vocabulary import RESPONDER, Event, Party, party_of

__all__ = [
    "POLL_S",
    "PROGRESS_EVERY_S",
    "Contrary",
    "RolloutWatch",
    "Seen",
    "Undefined",
    "Who",
    "acknowledged",
    "attribute",
    "detected",
    "escalated",
    "fallback_served",
    "fired",
    "injected_or_fail",
    "paged",
    "recovered",
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
    actor: str = ""
    party: Party = Party.TEAM
    earliest: str | None = None
    """The earliest it can have happened, when the owner's clock is coarser (see EventRecord)."""


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
                    event=Event(event), time=seen.time, source=seen.source, detail=seen.detail,
                    actor=seen.actor, party=seen.party, earliest=seen.earliest,
                )
            )  # fmt: skip
            offset = _offset(injected, parse_time(seen.time))
            mark, by = "✓", f"by {seen.actor}"
            if seen.party is Party.MLCHAOS:
                mark, by = "~", f"by {seen.actor}: simulated, not judged"
            progress.info("  %s %-12s %s  %s  (%s)", mark, event, offset, by, seen.source)
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
            actor="prometheus",
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
        return Seen(
            at.isoformat(), "prometheus ALERTS series (firing)", {"alert": alert},
            actor="prometheus",
        )  # fmt: skip

    return look


def paged(
    incidents: Pager, service: str, injected: datetime, alert: str | None = None
) -> Callable[[], Seen | None]:
    """The first incident on ``service`` after injection for ``alert``, per the pager.

    An incident whose details name another alert belongs to something else (a late effect
    of an earlier experiment, say); one that names no alert is taken as it comes. An incident
    that may have been triggered before the injection (a pager's time rounded to the second
    can stand for a moment before it) is not this fault's page.
    """

    def look() -> Seen | None:
        found = [
            i
            for i in incidents.since(service, injected)
            if alert is None or (i.get("custom_details") or {}).get("alertname") in (None, alert)
            if parse_time(i.get("triggered_earliest") or i["triggered_at"]) >= injected
        ]
        if not found:
            return None
        first = min(found, key=lambda i: i["triggered_at"])
        return Seen(
            first["triggered_at"],
            f"{incidents.source} incident triggered",
            {"incident": first["id"], "summary": first["summary"]},
            actor="alertmanager",
            earliest=first.get("triggered_earliest"),
        )

    return look


def acknowledged(
    incidents: Pager, service: str, injected: datetime, incident_id: str, journal: Journal
) -> Callable[[], Seen | None]:
    """The acknowledgement of the incident that paged, as the pager recorded it; mlchaos's own
    when its simulated responder said, in ``journal``, that it was acknowledging it."""

    def look() -> Seen | None:
        for incident in incidents.since(service, injected):
            if incident["id"] == incident_id and incident["acknowledged_at"]:
                ours = [
                    r for r in journal.of(Responded)
                    if r.incident == incident_id and r.action == "acknowledge"
                ]  # fmt: skip
                if ours:
                    actor, party = ours[0].actor, Party.MLCHAOS
                else:
                    actor, party = incident.get("acknowledged_by") or "on-call", Party.TEAM
                return Seen(
                    incident["acknowledged_at"],
                    f"{incidents.source} incident acknowledged",
                    {"incident": incident_id},
                    actor=actor,
                    party=party,
                )
        return None

    return look


def escalated(incidents: Pager, service: str, injected: datetime, incident_id: str) -> Callable[
    [], Seen | None
]:  # fmt: skip
    """The first escalation of the incident that paged: its policy notified the next level
    because nobody acknowledged in time. The pager's doing, under the team's policy."""

    def look() -> Seen | None:
        for incident in incidents.since(service, injected):
            if incident["id"] == incident_id and incident.get("escalated_at"):
                to = incident.get("escalated_to") or "its next level"
                return Seen(
                    incident["escalated_at"],
                    f"{incidents.source} incident escalated",
                    {"incident": incident_id, "to": to},
                    actor="escalation policy",
                    party=Party.TEAM,
                )
        return None

    return look


Who = Callable[[float], tuple[str, Party]]
"""Who caused a change seen in what is served at an epoch second: ``(actor, party)``."""


def attribute(
    journal: Journal,
    audit: Callable[[], list[dict[str, Any]]] | None,
    actions: tuple[str, ...],
    injected: datetime,
    lag_s: float = 1.0,
) -> Who:
    """Who made a change the gateway saw at a moment. mlchaos first: if its simulated
    responder ran a step before that moment, the change may be its own, and mlchaos never
    credits the team with what it may have done. Else the actor of the first audit entry of one
    of ``actions`` from the injection until ``lag_s`` after the moment (the team's system
    named itself), else the team's systems unnamed: they keep no record of who acted."""

    def who(at: float) -> tuple[str, Party]:
        steps = [
            r for r in journal.of(RunbookStep)
            if parse_time(r.at).timestamp() <= at and parse_time(r.at) >= injected
        ]  # fmt: skip
        if steps:
            return f"{RESPONDER} (runbook step {steps[0].step!r})", Party.MLCHAOS
        entries = []
        if audit is not None:
            try:
                entries = [
                    e for e in audit()
                    if e.get("action") in actions
                    and injected <= parse_time(str(e["at"])) and
                    parse_time(str(e["at"])).timestamp() <= at + lag_s
                ]  # fmt: skip
            except MlchaosError:
                entries = []
        if entries:
            first = min(entries, key=lambda e: str(e["at"]))
            return str(first["actor"]), party_of(str(first["actor"]), first.get("lease_id"))
        return "the team's systems (no record names who)", Party.TEAM

    return who


def served_off(
    gateway: TrafficFaults, version: str, injected: datetime, below: float, stays_for_s: float,
    who: Who,
) -> Callable[[], Seen | None]:  # fmt: skip
    """The first moment the share of answers ``version`` gave fell below ``below`` and stayed
    there for ``stays_for_s``, per the gateway, which reads each answer's version: what is
    served, not what the registry says (a rollback that was never deployed is no mitigation).
    Only after ``version`` was seen answering: a version that never served was never taken out.
    """

    def look() -> Seen | None:
        rows = gateway.versions(injected.timestamp() - 1)
        since = versions.off_since(
            rows, version, injected.timestamp(), time.time(), below, stays_for_s
        )
        if since is None:
            return None
        # To the answer: the last one ``version`` gave before the run of seconds without it.
        times = gateway.version_times(injected.timestamp() - 1)
        lasts = [last for (s, v), (_, last) in times.items() if v == version and s < since]
        moment = max(lasts, default=since)
        actor, party = who(moment)
        return Seen(
            datetime.fromtimestamp(moment, UTC).isoformat(),
            f"gateway answers (version {version} below {below:.0%} of answers)",
            {"version": version, "below": below, "stays_for_s": stays_for_s},
            actor=actor,
            party=party,
        )

    return look


class Contrary(Exception):
    """The opposite of the awaited event happened (a canary promoted instead of aborted):
    waiting on is pointless. ``seen`` is that opposite event."""

    def __init__(self, seen: Seen, reason: str) -> None:
        super().__init__(reason)
        self.seen, self.reason = seen, reason


class RolloutWatch:
    """The team's rollout of ``version``, as the gateway's answers show it: `look` for
    `wait_for`, and `record` for what the watch saw. An abort or a promotion is the team's
    rollout's doing, unless the lease had run out by then (mlchaos's keeper aborts it)."""

    ROLLOUT = "the team's rollout"

    def __init__(
        self, gateway: TrafficFaults, version: str, injected: datetime, stays_for_s: float,
        journal: Journal, expected: Literal["aborted", "promoted"],
        serving: Callable[[], str | None] | None = None,
        said: Callable[[], dict[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        self.gateway, self.version, self.stays_for_s = gateway, version, stays_for_s
        self.start, self.journal, self.expected = injected.timestamp(), journal, expected
        self.serving = serving
        """The version the registry says serves: a promotion is complete once it names the
        candidate (at the rollout's last step, the candidate already gives every answer)."""
        self.said = said
        """The rollout controller's own account, reported beside the answers."""
        self.last: rollout.Progress | None = None

    def progress(self) -> rollout.Progress:
        rows = self.gateway.versions(self.start - 1)
        times = self.gateway.version_times(self.start - 1)
        self.last = rollout.progress(
            rows, times, self.version, self.start, time.time(), self.stays_for_s
        )
        return self.last

    def look(self) -> Seen | None:
        found = self.progress()
        if found.outcome == "unsettled" or found.at is None:
            return None
        try:
            handed_over = self.serving is None or self.serving() == self.version
        except MlchaosError:  # the registry cannot say yet: keep watching
            handed_over = False
        if found.outcome == "promoted" == self.expected and not handed_over:
            return None  # at 100%, not yet handed over: the rollout is still under way
        actor, party = self.ROLLOUT, Party.TEAM
        expiry = [parse_time(r.expires_at).timestamp() for r in self.journal.of(LeaseAcquired)]
        if expiry and found.at >= min(expiry) - 1:
            actor, party = "mlchaos lease keeper (the lease ran out)", Party.MLCHAOS
        largest = found.largest_share
        if found.outcome == "aborted":
            source = f"gateway answers (the last by candidate {self.version}, then none)"
        else:
            source = f"gateway answers (candidate {self.version} gave every answer)"
        seen = Seen(
            datetime.fromtimestamp(found.at, UTC).isoformat(), source,
            {"version": self.version, "largest_share": largest, "stays_for_s": self.stays_for_s},
            actor=actor, party=party,
        )  # fmt: skip
        if found.outcome != self.expected:
            offset = found.at - self.start
            reach = f"{largest:.0%}" if largest is not None else "?"
            if found.outcome == "promoted":
                why = (f"the rollout promoted {self.version} at +{offset:.1f}s (it reached "
                       f"{reach} of answers): it was never aborted")  # fmt: skip
            else:
                why = (f"false abort: the rollout aborted {self.version} at +{offset:.1f}s, "
                       f"at {reach} of answers")  # fmt: skip
            raise Contrary(seen, why)
        return seen

    def record(self) -> None:
        """Journal what the watch saw, once it ends."""
        found: rollout.Progress | None
        try:
            found = self.progress()
        except MlchaosError:
            found = self.last
        if found is None:
            self.journal.write(RolloutWatched(
                version=self.version, expected=self.expected, outcome="unsettled"
            ))  # fmt: skip
            return

        def when(at: float | None) -> str | None:
            return datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None

        said = self.said() if self.said is not None else None

        self.journal.write(RolloutWatched(
            version=self.version, expected=self.expected, outcome=found.outcome,
            at=when(found.at), largest_share=found.largest_share,
            largest_at=when(found.largest_at), share_at_end=found.share_now,
            answered_by_it=found.answered_by_it, answered=found.answered, controller_said=said,
        ))  # fmt: skip


def fallback_served(
    gateway: TrafficFaults, fallback: tuple[str, ...], injected: datetime, below: float,
    stays_for_s: float, min_success: float, who: Who,
) -> Callable[[], Seen | None]:  # fmt: skip
    """The first moment the fallback (answers saying they are one of ``fallback``) gave all
    but ``below`` of the answers, with at least ``min_success`` of every second's answers a
    2xx, and kept it so for ``stays_for_s``: a fallback that answers 404 mitigates nothing."""

    def look() -> Seen | None:
        start = injected.timestamp()
        rows = gateway.versions(start - 1)
        seconds, now = gateway.outcomes(start - 1)
        good = {s: answered > 0 and ok / answered >= min_success for s, answered, ok in seconds}
        since = versions.on_since(
            rows, set(fallback), start, now, 1 - below, stays_for_s, serving=good
        )
        if since is None:
            return None
        # To the answer: the fallback's first in the second before the run, or in its first.
        times = gateway.version_times(start - 1)
        firsts = [f for (s, v), (f, _) in times.items() if v in fallback and s >= since - 1]
        moment = max(min(firsts, default=since), start)
        actor, party = who(moment)
        return Seen(
            datetime.fromtimestamp(moment, UTC).isoformat(),
            f"gateway answers (the fallback {', '.join(fallback)} gave over {1 - below:.0%}, "
            f"{min_success:.0%} or more of them 2xx)",
            {"fallback": list(fallback), "below": below, "stays_for_s": stays_for_s},
            actor=actor,
            party=party,
        )

    return look


def recovered(
    prometheus: Metrics,
    slos: tuple[Slo, ...],
    injected: datetime,
    step_s: float,
    stable_for_s: float,
    gateway: TrafficFaults | None = None,
    min_success: float = 0.9,
    journal: Journal | None = None,
) -> Callable[[], Seen | None]:
    """The first Prometheus sample from which every SLO held again for ``stable_for_s`` and,
    with ``gateway``, from which the gateway served again (see `mlchaos.observe.serving`):
    the later of the two. With ``journal``, who it follows from (`_cause_of_recovery`)."""

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
        actor, party = _cause_of_recovery(journal, at) if journal else ("the service", Party.TEAM)
        return Seen(at.isoformat(), source, detail, actor=actor, party=party)

    return look


def _cause_of_recovery(journal: Journal, at: datetime) -> tuple[str, Party]:
    """A recovery is the doing of whoever mitigated before it; without a mitigation, of the
    service itself, unless mlchaos's responder had acted first."""
    mitigation = next((r for r in journal.of(EventRecord) if r.event is Event.MITIGATED), None)
    if mitigation is not None and parse_time(mitigation.time) <= at and mitigation.party:
        return mitigation.actor or "the team's systems", mitigation.party
    steps = [r for r in journal.of(RunbookStep) if parse_time(r.at) <= at]
    if steps:
        return f"{RESPONDER} (runbook step {steps[0].step!r})", Party.MLCHAOS
    return "the service itself", Party.TEAM
