"""The words of an incident, declared once: its events, the durations between them, their
labels, targets and fix hints, and the verdicts. Everything above (the schema's targets, the
engine's timeline and verdict, every report) reads them from here.

    injected → detected → fired → paged → acknowledged → mitigated → recovered,  then reverted
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "EVENTS",
    "EXIT_OF",
    "FIX",
    "FROM_PAGE",
    "HEADLINE",
    "INJECTOR",
    "JUDGED",
    "KEEPER",
    "LABELS",
    "MEASURES",
    "MLCHAOS_ACTORS",
    "OPTIONAL_EVENTS",
    "RESPONDER",
    "STAND_INS",
    "TARGET_EVENT",
    "TARGET_OF_EVENT",
    "VERDICT_ORDER",
    "CheckRole",
    "Event",
    "Exit",
    "Measure",
    "PageRole",
    "Party",
    "Span",
    "Verdict",
    "party_of",
    "shown_events",
    "worst",
]


class Event(StrEnum):
    INJECTED = "injected"
    DETECTED = "detected"
    """The alert went pending: Prometheus's activeAt."""
    FIRED = "fired"
    """The alert went firing, ``for`` later: the first firing sample of ALERTS."""
    PAGED = "paged"
    ESCALATED = "escalated"
    """Nobody acknowledged in time: the pager's escalation policy notified its next level."""
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RECOVERED = "recovered"
    ABORTED = "aborted"
    """A canary: the team's rollout took the candidate out (its last answer before none)."""
    PROMOTED = "promoted"
    """A canary: the team's rollout gave the candidate every answer."""
    REVERTED = "reverted"


EVENTS: tuple[Event, ...] = tuple(Event)
"""In the order an incident runs through them."""


class Party(StrEnum):
    """Who caused an event. Only the team's events are judged against its targets."""

    TEAM = "team"
    """The service's own systems and people: Prometheus, Alertmanager, the pager, the team's
    controllers, deploy step and supervisor, a person acknowledging or mitigating."""
    MLCHAOS = "mlchaos"
    """mlchaos itself: the injector, the simulated responder, the lease keepers and the TTLs
    that end its faults. A duration that ends in one of its actions is *simulated*."""


INJECTOR = "mlchaos"
"""Who mlchaos says it is in every target's audit log when it injects or reverts."""
RESPONDER = "mlchaos-responder"
"""Who the simulated on-call is (automated game days): its acknowledgements and runbook steps."""
KEEPER = "mlchaos lease keeper"
"""The detached process that ends an MLflow lease when its TTL runs out."""
MLCHAOS_ACTORS = frozenset({INJECTOR, RESPONDER, KEEPER, "recover"})
"""Every name mlchaos acts under. A target that ends a lease by itself (the gateway's or the
registry's timer) acts for mlchaos too: its audit entry carries the lease's id."""


def party_of(actor: str, lease_id: str | None = None) -> Party:
    """The party behind an audit entry's ``actor`` (an entry about a lease is mlchaos's)."""
    return Party.MLCHAOS if actor in MLCHAOS_ACTORS or lease_id else Party.TEAM


class Span(StrEnum):
    """The durations mlchaos measures, by the names results.json and targets use."""

    MTTD = "mttd"
    TIME_TO_FIRE = "time_to_fire"
    TIME_TO_PAGE = "time_to_page"
    TIME_TO_ESCALATE = "time_to_escalate"
    MTTA = "mtta"
    MTTM = "mttm"
    MTTR = "mttr"
    TIME_TO_ABORT = "time_to_abort"
    TIME_TO_PROMOTE = "time_to_promote"


class CheckRole(StrEnum):
    """What a steady-state check in the journal stands for."""

    SLO = "slo"
    """One of the experiment's steady-state SLOs."""
    TRAFFIC = "traffic"
    """The service counts the load (its traffic query above the minimum rate)."""
    SERVING = "serving"
    """The gateway answers the load with enough 2xx."""


class PageRole(StrEnum):
    """A page during an experiment's window."""

    EXPERIMENT = "experiment"
    """From the alert the experiment expects: what paging and acknowledgement are judged on."""
    COLLATERAL = "collateral"
    """From another alert: reported, never judged."""


@dataclass(frozen=True)
class Measure:
    """A duration between two events, and how the reports speak of it."""

    name: Span
    start: Event
    end: Event
    label: str
    expectation: str | None = None
    """The ``expect:`` key of an experiment that sets its target; None: measured, not judged."""
    column: str | None = None
    """Its column in the summary table and trends, for the headline measures."""
    fix: str = ""
    """What to change when the target is missed; ``{alert}`` and ``{by}`` are filled in."""
    stand_in: bool = False
    """mlchaos's simulated responder stands in for the team here by design (automated game
    days acknowledge for the absent person): done by it, the duration is simulated and not
    judged. For any other duration, mlchaos's doing means the team's systems never did it."""


MEASURES: tuple[Measure, ...] = (
    Measure(
        Span.MTTD, Event.INJECTED, Event.DETECTED, "detection (MTTD)", "detection", "MTTD",
        "tighten detection of {alert}: its window, `for` and the scrape interval set how soon "
        "it can fire",
    ),
    Measure(Span.TIME_TO_FIRE, Event.INJECTED, Event.FIRED, "firing"),
    Measure(
        Span.TIME_TO_PAGE, Event.INJECTED, Event.PAGED, "paging", "paging", None,
        "shorten the path from alert to page: Alertmanager `group_wait` and routing",
    ),
    Measure(  # from the page, as the escalation policy counts its delay
        Span.TIME_TO_ESCALATE, Event.PAGED, Event.ESCALATED, "escalation", "escalation", None,
        "make the escalation policy reach its next level in time: its delays, its levels",
    ),
    Measure(  # from the page, as PagerDuty defines it
        Span.MTTA, Event.PAGED, Event.ACKNOWLEDGED, "acknowledgement (MTTA)", "acknowledgement",
        "MTTA", "make the page reach someone who can act: escalation policy and notification "
        "rules", stand_in=True,
    ),
    Measure(
        Span.MTTM, Event.INJECTED, Event.MITIGATED, "mitigation (MTTM)", "mitigation", "MTTM",
        "automate or shorten the mitigation in the runbook ({by})",
    ),
    Measure(
        Span.MTTR, Event.INJECTED, Event.RECOVERED, "recovery (MTTR)", "recovery", "MTTR",
        "find what kept the SLOs broken after mitigation: caches, warm-up, the fallback's "
        "capacity",
    ),
    Measure(
        Span.TIME_TO_ABORT, Event.INJECTED, Event.ABORTED, "canary abort", "abort", None,
        "make the rollout's analysis catch it sooner: its query, successCondition, "
        "failureLimit and the time per step",
    ),
    Measure(
        Span.TIME_TO_PROMOTE, Event.INJECTED, Event.PROMOTED, "canary promotion", "promotion",
        None, "a good version must get through: look for a false abort or a paused analysis "
        "(no data), and the time per step",
    ),
)  # fmt: skip

JUDGED = tuple(m for m in MEASURES if m.expectation)
LABELS: dict[str, str] = {m.name: m.label for m in JUDGED}
"""Label of each duration that has a target, by name."""
HEADLINE = tuple(m.name for m in MEASURES if m.column)
"""The four MTTx every summary shows."""
FIX: dict[str, str] = {m.name: m.fix for m in JUDGED}
STAND_INS = frozenset(m.name for m in MEASURES if m.stand_in)
"""Durations the simulated responder stands in for (see `Measure.stand_in`)."""
TARGET_EVENT: dict[str, str] = {m.name: m.end for m in MEASURES}
"""The event that ends each duration."""
TARGET_OF_EVENT: dict[str, str] = {m.end: m.name for m in JUDGED if m.start is Event.INJECTED}
FROM_PAGE: dict[str, str] = {m.end: m.name for m in JUDGED if m.start is Event.PAGED}
OPTIONAL_EVENTS = frozenset({Event.ESCALATED, Event.ABORTED, Event.PROMOTED})
"""Events only some experiments look for: shown only where one was expected or seen."""


def shown_events(seen: Iterable[str], targets: Iterable[str]) -> tuple[Event, ...]:
    """The events a report or the live view shows for an experiment: every event, but an
    optional one only where it happened (``seen``) or a target (``targets``) expects it. A
    canary's: its injection, its rollout's abort or promotion, the revert, and what was seen."""
    seen, targets = set(seen), set(targets)
    expected = {m.end for m in MEASURES if m.name in targets}
    if expected & {Event.ABORTED, Event.PROMOTED}:  # a canary: its rollout is what is judged
        kept = {Event.INJECTED, Event.REVERTED}
        return tuple(e for e in EVENTS if e in kept or e in seen or e in expected)
    return tuple(e for e in EVENTS if e not in OPTIONAL_EVENTS or e in seen or e in expected)
"""The events whose target runs from the page (acknowledgement, escalation), by event."""
"""The target each event is measured against as an offset from injection (MTTA is not)."""


class Verdict(StrEnum):
    PASS = "pass"
    """The fault was live, and every expected event happened within its target."""
    FAIL = "fail"
    """A target was missed, an expected event never came, or the fault was not reverted."""
    INCONCLUSIVE = "inconclusive"
    """The infrastructure could not tell: no data, no traffic, an unreachable source, a
    service not in steady state before injection."""
    INVALID = "invalid"
    """The fault was injected but never observably active."""
    STOPPED = "stopped"
    """A stop condition breached while the fault was in: mlchaos reverted it at once."""


class Exit(IntEnum):
    """What every `mlchaos` command exits with: the README's table, one place."""

    PASS = 0
    """Every experiment passed: the fault was live and the team's systems met every target."""
    FAIL = 1
    """A target missed, or a stop condition breached (the experiment's verdict *stopped*)."""
    BAD_INPUT = 2
    """A file fails validation, an experiment does not fit its service, a target is below
    the floor: said as ``file:line: field: message`` before anything runs."""
    INCONCLUSIVE = 3
    """The infrastructure could not tell (an *invalid* fault among it)."""
    INTERRUPTED = 130
    """A SIGINT or SIGTERM arrived: the fault was reverted and the reports written."""


EXIT_OF: dict[Verdict, Exit] = {
    Verdict.PASS: Exit.PASS,
    Verdict.FAIL: Exit.FAIL,
    Verdict.STOPPED: Exit.FAIL,
    Verdict.INCONCLUSIVE: Exit.INCONCLUSIVE,
    Verdict.INVALID: Exit.INCONCLUSIVE,
}
"""The exit code of a verdict (a game day's is the worst of its experiments', `overall`)."""


VERDICT_ORDER = (Verdict.STOPPED, Verdict.FAIL, Verdict.INVALID, Verdict.INCONCLUSIVE, Verdict.PASS)
"""Worst first: one failed experiment fails the game day."""


def worst(verdicts: list[str]) -> Verdict:
    """A game day's verdict: the worst of its experiments' (an invalid fault shows nothing
    either way: inconclusive; a stopped experiment fails the game day, as its exit code says,
    and keeps its own verdict, *stopped*). None at all: nothing was shown to pass."""
    summed = {Verdict.INVALID: Verdict.INCONCLUSIVE, Verdict.STOPPED: Verdict.FAIL}
    for verdict in VERDICT_ORDER:
        if verdict in verdicts:
            return summed.get(verdict, verdict)
    return Verdict.INCONCLUSIVE
