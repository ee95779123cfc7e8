"""Judge an experiment from its journal alone, never from Chaos Toolkit's status.

The verdicts (`mlchaos.vocabulary.Verdict`): *pass*, *fail*, *inconclusive* when the
infrastructure could not tell, *invalid* when the fault was never observably active.

Only the team's actors count. Each event names who caused it; a duration that ends in
something mlchaos did (its simulated responder's acknowledgement, a mitigation its drill ran)
is *simulated*: reported with its configured delay, never compared with a target. Order is
evidence: an event before its cause is a clock or source defect, and no pass rests on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlchaos.engine.floor import Floor
from mlchaos.engine.pages import split_steps
from mlchaos.engine.timeline import durations, out_of_order
from mlchaos.journal import (
    Activity,
    ApprovalWatched,
    EventRecord,
    FaultActive,
    FloorRecord,
    Interrupted,
    Missed,
    PreflightFailed,
    PrivacySearched,
    Record,
    Responded,
    RolloutWatched,
    RunbookStep,
    SloCheck,
    Stopped,
    parse_time,
)
from mlchaos.schema import Experiment
from mlchaos.vocabulary import (
    EVENTS,
    LABELS,
    STAND_INS,
    TARGET_EVENT,
    CheckRole,
    Event,
    Party,
    Span,
    Verdict,
    worst,
)

__all__ = ["ExperimentResult", "interrupted", "judge", "overall"]


@dataclass
class ExperimentResult:
    name: str
    fault: str
    verdict: Verdict
    timeline: dict[str, str | None]
    sources: dict[str, str]
    durations_s: dict[str, float | None]
    targets_s: dict[str, float]
    floor_s: float | None
    """The floor of MTTD (detection is the alert going pending): scrape + evaluation."""
    floor: dict[str, float | str] | None
    floors_s: dict[str, float] | None
    reasons: list[str] = field(default_factory=list)
    fault_detail: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, str | None] = field(default_factory=dict)
    """What the service should do: the detecting alert, the paged service, the mitigation."""
    runbook_steps: list[dict[str, Any]] = field(default_factory=list)
    """Each runbook step the responder executed, with its time and outcome: a drill, judged
    on whether it ran, never counted as the team's mitigation."""
    load_rps: float | None = None
    """Requests per second the service counted while the fault was in."""
    collateral_steps: list[dict[str, Any]] = field(default_factory=list)
    """Runbook steps run for pages of other alerts: reported, never judged (see `pages`)."""
    served: dict[str, Any] | None = None
    """p95/p99 latency and the validation-failure share while the fault was in
    (`mlchaos.observe.impact`)."""
    budget: list[dict[str, Any]] = field(default_factory=list)
    """What the fault's window cost each of the service's SLOs (`mlchaos.observe.budget`)."""
    fairness: dict[str, Any] | None = None
    """The gap between segments of ``segments.score`` (`mlchaos.observe.fairness`)."""
    slis_while_in: list[dict[str, Any]] = field(default_factory=list)
    """Each steady-state SLI's worst value while the fault was in (`mlchaos.observe.sli`)."""
    rollout: dict[str, Any] | None = None
    """For a canary: what the rollout did with the candidate (`mlchaos.journal.RolloutWatched`)."""
    privacy: dict[str, Any] | None = None
    """For a ``pii_canary``: each place searched, and what was found
    (`mlchaos.journal.PrivacySearched`)."""
    approval: dict[str, Any] | None = None
    """For ``poisoned_data``: the retrain mlchaos ran, and what the team's approval gate
    decided on each version (`mlchaos.journal.ApprovalWatched`)."""
    version_mismatch: dict[str, Any] | None = None
    """For a fault that promoted a version: the share of answers it gave while in
    (`mlchaos.observe.versions`)."""
    pages: list[dict[str, Any]] = field(default_factory=list)
    """Every page from injection to the end of the experiment's window (`mlchaos.engine.pages`)."""
    actors: dict[str, dict[str, str | None]] = field(default_factory=dict)
    """Who caused each event that happened: ``{"actor": ..., "party": "team" | "mlchaos"}``."""
    simulated: dict[str, str] = field(default_factory=dict)
    """Durations that end in mlchaos's doing, with why: reported, never judged."""
    notes: list[str] = field(default_factory=list)
    """What was not judged, and why (no recovery target, a simulated acknowledgement)."""
    baseline: dict[str, Any] | None = None
    """What the experiment started from: the version served, and whether it had to be restored."""
    interrupted_by: str | None = None
    """The signal that cut the run short, if one did (not part of results.json: the game day's
    ``interrupted`` says it)."""
    promoted: tuple[str, datetime, datetime | None] | None = None
    """For a fault that promoted a version: the version, when it went in and when it was
    reverted, for the version-mismatch measure (not part of results.json)."""

    def as_dict(self) -> dict[str, Any]:
        internal = ("interrupted_by", "promoted")
        return {k: v for k, v in self.__dict__.items() if k not in internal}


def judge(experiment: Experiment, records: list[Record], floor: Floor | None) -> ExperimentResult:
    events: dict[str, EventRecord] = {}
    for record in records:
        if isinstance(record, EventRecord):
            events.setdefault(record.event, record)  # the first time an event is seen counts
    times: dict[str, datetime | None] = {n: parse_time(r.time) for n, r in events.items()}
    starts = {n: parse_time(r.start) for n, r in events.items()}
    spans = durations(times, starts)
    for_s = floor.for_s if floor else _recorded_for(records)
    defects = [f"clock or source defect: {d}" for d in out_of_order(times, for_s, starts)]
    fail, unsure, simulated = _targets(experiment, records, events, spans, defects)
    unsure = _before_injection(records) + defects + unsure
    invalid: list[str] = []
    signal = interrupted(records)
    stop = next((r for r in records if isinstance(r, Stopped)), None)
    if signal:
        # Events not waited for are unknown, not missed.
        fail, unsure = [], [f"interrupted by {signal} before every event was observed"]
    if stop is not None:  # events after the stop were not waited for: neither missed nor unknown
        fail, unsure = [_stopped(stop)], []
    if "injected" not in times:
        unsure = unsure or [_why_not_injected(records)]
    else:
        if not signal:  # a signal right after injection leaves the effect unchecked: said so
            invalid, unchecked = _liveness(records)
            unsure = unchecked + unsure
        if "reverted" not in times:
            fail.append("the fault was not reverted; run `mlchaos recover` now")
    steps, collateral_steps = split_steps(
        [_step(r) for r in records if isinstance(r, RunbookStep)],
        experiment.expect.alert,
    )
    fail += [_defect(s) for s in steps if not s["ok"]]
    rollout = _rollout(experiment, records)
    if rollout is not None and not signal and stop is None:
        fail += _canary_failures(experiment, rollout)
    privacy = _privacy(records)
    if experiment.expect.privacy is not None and not signal and stop is None:
        found, unread = _privacy_reasons(privacy, "injected" in times)
        fail += found
        unsure += unread
    approval = _approval(records, experiment)
    if experiment.expect.approval is not None and not signal and stop is None:
        rejected, unknown = _approval_reasons(approval, "injected" in times)
        fail += rejected
        unsure += unknown
    reasons = fail + invalid + unsure
    verdict = (
        Verdict.FAIL
        if fail
        else Verdict.INVALID
        if invalid
        else Verdict.INCONCLUSIVE
        if unsure
        else Verdict.PASS
    )
    if "injected" not in times:
        verdict = Verdict.INCONCLUSIVE
    elif stop is not None:
        verdict = Verdict.STOPPED
    return ExperimentResult(
        name=experiment.name,
        fault=experiment.fault.type,
        verdict=verdict,
        timeline={e: _iso(times.get(e)) for e in EVENTS},
        sources={e: r.source for e, r in events.items()},
        durations_s=spans,
        targets_s=experiment.expect.targets(),
        floor_s=floor.of(Span.MTTD) if floor else None,
        floor=floor.as_dict() if floor else None,
        floors_s=floor.floors() if floor else None,
        reasons=reasons,
        fault_detail=experiment.fault.model_dump(mode="json", exclude_none=True),
        expected=_expected(experiment),
        runbook_steps=steps,
        collateral_steps=collateral_steps,
        actors={
            e: {"actor": r.actor, "party": str(r.party) if r.party else None}
            for e, r in events.items()
        },
        simulated=simulated,
        notes=_notes(experiment, simulated),
        rollout=rollout,
        privacy=privacy,
        approval=approval,
        interrupted_by=signal,
        promoted=_promoted(events, times),
    )


def _promoted(
    events: dict[str, EventRecord], times: dict[str, datetime | None]
) -> tuple[str, datetime, datetime | None] | None:
    injected, at = events.get(Event.INJECTED), times.get(Event.INJECTED)
    version = injected.detail.get("version") if injected is not None else None
    if not version or at is None:
        return None
    return str(version), at, times.get(Event.REVERTED)


def overall(verdicts: list[str]) -> Verdict:
    """The game day's verdict: `mlchaos.vocabulary.worst` of its experiments'."""
    return worst(verdicts)


def interrupted(records: list[Record]) -> str | None:
    """The signal that cut the run short, if one did (the rollbacks still played).

    chaoslib's own status says "interrupted" whenever the method stopped early, including
    after a failed injection or an inactive fault; only a recorded signal counts here.
    """
    return next((r.signal for r in records if isinstance(r, Interrupted)), None)


def _targets(
    experiment: Experiment,
    records: list[Record],
    events: dict[str, EventRecord],
    spans: dict[str, float | None],
    defects: list[str],
) -> tuple[list[str], list[str], dict[str, str]]:
    """Each target against what the team's systems did: ``(missed, cannot tell, simulated)``."""
    missed: dict[str, Missed] = {r.event: r for r in records if isinstance(r, Missed)}
    fail: list[str] = []
    unsure: list[str] = []
    simulated: dict[str, str] = {}
    if Event.INJECTED not in events or not _shown_live(records):
        return fail, unsure, simulated
    for name, target in experiment.expect.targets().items():
        value, label = spans.get(name), LABELS[name]
        ended = events.get(TARGET_EVENT[name])
        if value is not None and ended is not None:
            if ended.party is Party.MLCHAOS:
                simulated[name] = _simulated(name, value, ended, records)
                if name not in STAND_INS:
                    fail.append(
                        f"{label}: target {target:g}s missed: the team's systems never did it; "
                        f"{ended.actor or 'mlchaos'} did, at +{value:.1f}s: simulated, not judged"
                    )
            elif ended.party is None:
                unsure.append(f"{label}: cannot tell who caused it (no actor recorded)")
            elif not defects and value > target:
                fail.append(f"{label}: {value:.1f}s, over the {target:g}s target")
            continue
        why = missed.get(TARGET_EVENT[name])
        if why and why.status == "stopped":
            continue  # not waited for: the stop is the verdict
        if why and why.status == "unreachable":
            unsure.append(f"{label}: cannot tell, {why.reason}")
        else:
            reason = why.reason if why else "never observed"
            fail.append(f"{label}: target {target:g}s missed, {reason}")
    return fail, unsure, simulated


def _simulated(name: str, value: float, ended: EventRecord, records: list[Record]) -> str:
    """Why a duration is simulated, with the delay mlchaos was configured to take."""
    delays = [r.delay_s for r in records if isinstance(r, Responded)]
    configured = (
        f", which waits {delays[0]:g}s as configured" if delays and name in STAND_INS else ""
    )
    return f"{value:.1f}s, by {ended.actor or 'mlchaos'}{configured}"


def _shown_live(records: list[Record]) -> bool:
    """Only a recorded effect counts: at least one ``fault_active`` saying live, none denying."""
    seen = [r.active for r in records if isinstance(r, FaultActive)]
    return bool(seen) and all(seen)


def _liveness(records: list[Record]) -> tuple[list[str], list[str]]:
    """``(invalid, cannot tell)``: a fault never shown active is invalid; one whose effect could
    not be checked (the confirm probe raised: a gateway unreachable, no payload) cannot tell."""
    seen = [r for r in records if isinstance(r, FaultActive)]
    inactive = [f"the fault was not observably active: {r.evidence}" for r in seen if not r.active]
    if inactive or any(r.active for r in seen):
        return inactive, []
    broke = [
        r.exception
        for r in records
        if isinstance(r, Activity) and r.phase == "end" and r.exception
        and str(r.name).startswith("confirm-")
    ]  # fmt: skip
    if broke:
        return [], [f"cannot tell whether the fault took effect: {broke[0]}"]
    return ["the fault's effect was never confirmed: nothing shows it was live"], []


def _recorded_for(records: list[Record]) -> float:
    return next((r.for_s for r in records if isinstance(r, FloorRecord)), 0.0)


def _notes(experiment: Experiment, simulated: dict[str, str]) -> list[str]:
    """What the verdict did not judge, said in words."""
    notes = [f"{LABELS[name]} simulated: {why}; not judged" for name, why in simulated.items()]
    if experiment.expect.approval is not None:
        notes.append("a poisoned retrain changes nothing served unless the gate lets it "
                     "through: the gate's decisions, and what was served, are judged; the "
                     "retrain step was run by mlchaos, as the team's schedule would")  # fmt: skip
    elif experiment.expect.privacy is not None:
        notes.append("a PII canary changes nothing to recover from: only where its fake data "
                     "landed is judged")  # fmt: skip
    elif experiment.expect.recovery is None:
        why = experiment.expect.no_recovery or "the experiment sets no recovery target"
        notes.append(f"recovery (MTTR) not judged: {why}")
    return notes


def _stopped(stop: Stopped) -> str:
    if stop.value is None:
        return (
            f"stopped: {stop.guard} could not be read ({stop.reason}); a guard nobody can read "
            f"guards nothing, so the fault was reverted {stop.breach_to_revert_s:.2f}s later"
        )
    return (
        f"stopped: {stop.guard} = {stop.value:.4g}, need {stop.condition}; the fault was "
        f"reverted {stop.breach_to_revert_s:.2f}s after the breach was seen"
    )


def _before_injection(records: list[Record]) -> list[str]:
    """Steady-state problems seen before the fault went in."""
    reasons = []
    for record in records:
        if isinstance(record, EventRecord) and record.event is Event.INJECTED:
            break
        if isinstance(record, SloCheck) and record.status != "holds":
            reasons.append(_unsteady(record))
    return reasons


def _unsteady(check: SloCheck) -> str:
    if check.status != "violated":
        return f"steady state {check.name}: {check.reason}"
    value = check.value or 0.0
    if check.role == CheckRole.SERVING:
        answered = "?" if check.answered is None else check.answered
        return (
            f"the service is not in steady state: {value:.0%} of {answered} requests "
            f"succeeded at the gateway, need {check.condition}"
        )
    if check.role == CheckRole.TRAFFIC:
        return f"no traffic: {value:.2f} req/s, need {check.condition}"
    return (
        f"steady state did not hold before injection: {check.name} = {value:.4g}, "
        f"need {check.condition}"
    )


def _why_not_injected(records: list[Record]) -> str:
    for record in records:
        if isinstance(record, PreflightFailed):
            return record.reason
        if isinstance(record, Activity) and record.exception:
            return f"the fault was not injected: {record.exception}"
    return "the fault was not injected"


def _expected(experiment: Experiment) -> dict[str, str | None]:
    expect = experiment.expect
    return {
        "alert": expect.alert or None,
        "paging_service": expect.paging.service if expect.paging else None,
        "mitigation": expect.mitigation.by if expect.mitigation else None,
        "no_recovery": expect.no_recovery,
    }


def _rollout(experiment: Experiment, records: list[Record]) -> dict[str, Any] | None:
    """What the watch of a canary saw, with the experiment's bound on the share."""
    watched = next((r for r in records if isinstance(r, RolloutWatched)), None)
    if watched is None:
        return None
    found = watched.model_dump(mode="json", exclude={"type", "written_at"})
    abort = experiment.expect.abort
    found["max_share"] = abort.max_share if abort else None
    return found


def _canary_failures(experiment: Experiment, rollout: dict[str, Any]) -> list[str]:
    """A canary's own failures, beyond its missed target: too large a share, a paused one."""
    fail, version = [], rollout["version"]
    largest, bound = rollout.get("largest_share"), rollout.get("max_share")
    if bound is not None and largest is not None and largest >= bound:
        fail.append(
            f"canary: version {version} reached {largest:.0%} of the answers, at or above the "
            f"{bound:.0%} expect.abort.max_share allows"
        )
    if rollout["outcome"] == "unsettled" and rollout.get("share_at_end"):
        fail.append(
            f"canary: the rollout neither aborted nor promoted {version}: it still gave "
            f"{rollout['share_at_end']:.0%} of the last answers (paused, or stuck at a step)"
        )
    return fail


def _privacy(records: list[Record]) -> dict[str, Any] | None:
    searched = next((r for r in records if isinstance(r, PrivacySearched)), None)
    if searched is None:
        return None
    found = searched.model_dump(mode="json", exclude={"type", "written_at"})
    found["found"] = sum(len(s.get("finds", [])) for s in searched.sinks)
    return found



def _approval(records: list[Record], experiment: Experiment) -> dict[str, Any] | None:
    watched = next((r for r in records if isinstance(r, ApprovalWatched)), None)
    if watched is None or experiment.expect.approval is None:
        return None
    found = watched.model_dump(mode="json", exclude={"type", "written_at"})
    found["rejected_within_s"] = experiment.expect.approval.rejected_within
    return found


def _approval_reasons(
    approval: dict[str, Any] | None, injected: bool
) -> tuple[list[str], list[str]]:
    """A version trained on the poison that the gate approved, decided late or never, or that
    was served fails the experiment; a watch with nothing to judge leaves it unknown."""
    if approval is None:
        return [], (["approval: the retrain never ran, so the gate was never watched"]
                    if injected else [])  # fmt: skip
    within = approval["rejected_within_s"]
    fail, unsure = [], []
    for v in approval["versions"]:
        name = f"version {v['version']}"
        why = f" ({v['reason']})" if v.get("reason") else ""
        if v["outcome"] == "approved":
            fail.append(f"approval: the gate approved {name}, trained on the poisoned "
                        f"snapshot{why}")  # fmt: skip
        elif v["outcome"] == "undecided":
            fail.append(f"approval: {name}, trained on the poisoned snapshot, had no decision "
                        f"{within:g}s after the retrain began: the gate never decided")  # fmt: skip
        elif v["outcome"] == "other":
            unsure.append(f"approval: {name}'s decision {v['decision']!r} is neither the "
                          "service file's approved nor its rejected value")  # fmt: skip
        elif v["time_to_decision_s"] > within:
            fail.append(f"approval: {name} was rejected {v['time_to_decision_s']:.1f}s after "
                        f"the retrain began, over the {within:g}s target")  # fmt: skip
        if v.get("alias_named_at") or v.get("served_answers"):
            served = [f"the alias named it at {v['alias_named_at']}"] if v.get(
                "alias_named_at") else []  # fmt: skip
            served += [f"it gave {v['served_answers']} answer(s)"] if v.get(
                "served_answers") else []  # fmt: skip
            fail.append(f"approval: {name}, trained on the poisoned snapshot, was served: "
                        f"{' and '.join(served)}")  # fmt: skip
    if not approval["versions"]:
        retrain = approval.get("retrain", {})
        said = (f"the retrain step failed: {retrain.get('error')}" if not retrain.get("ok")
                else "the retrain step ended")  # fmt: skip
        unsure.append(f"approval: {said}, and no version was registered within {within:g}s: "
                      "the gate had nothing to decide")  # fmt: skip
    if approval.get("error"):
        unsure.append(f"approval: the registry could not be read to the end: "
                      f"{approval['error']}")  # fmt: skip
    return fail, unsure


def _privacy_reasons(
    privacy: dict[str, Any] | None, injected: bool
) -> tuple[list[str], list[str]]:
    """A find fails the experiment, naming where; a place that could not be searched leaves
    it unknown (nothing found there is not nothing there)."""
    if privacy is None:
        return [], (["privacy: the places data lands were never searched"] if injected else [])
    fail = []
    for sink in privacy["sinks"]:
        finds = sink.get("finds", [])
        if not finds:
            continue
        kinds = ", ".join(sorted({f["kind"] for f in finds}))
        first = finds[0]
        fail.append(f"privacy: {len(finds)} canary value(s) ({kinds}) found in {sink['sink']}, "
                    f"the first {first['value']} at {first['where']}")  # fmt: skip
    unsure = [
        f"privacy: {s['sink']} could not be searched: {s['error']}"
        for s in privacy["sinks"] if s.get("error")
    ]  # fmt: skip
    return fail, unsure


def _step(record: RunbookStep) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude={"type", "written_at"})


def _defect(step: dict[str, Any]) -> str:
    """A failed runbook step fails the experiment: on-call would have hit the same wall."""
    return (
        f"runbook defect: {step['runbook']} step {step['step']!r} failed "
        f"({step.get('error') or 'no detail'})"
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
