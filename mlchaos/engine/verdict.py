"""Judge an experiment from its journal alone, never from Chaos Toolkit's status.

Verdicts:
- ``pass``: the fault was live, and every expected event happened within its target;
- ``fail``: a target was missed, an expected event never came, or the fault was not reverted;
- ``inconclusive``: the infrastructure could not tell (no data, no traffic, an unreachable
  source, a service not in steady state before injection);
- ``invalid``: the fault was injected but never observably active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlchaos.engine.floor import Floor
from mlchaos.engine.journal import Record, parse_time
from mlchaos.engine.pages import split_steps
from mlchaos.engine.timeline import EVENTS, TARGET_EVENT, durations
from mlchaos.schema import Experiment

LABELS = {
    "mttd": "detection (MTTD)",
    "time_to_page": "paging",
    "mtta": "acknowledgement (MTTA)",
    "mttm": "mitigation (MTTM)",
    "mttr": "recovery (MTTR)",
}
VERDICT_ORDER = ("fail", "invalid", "inconclusive", "pass")
"""Worst first: one failed experiment fails the game day."""


@dataclass
class ExperimentResult:
    name: str
    fault: str
    verdict: str
    timeline: dict[str, str | None]
    sources: dict[str, str]
    durations_s: dict[str, float | None]
    targets_s: dict[str, float]
    floor_s: float | None
    """The floor of MTTD (detection is the alert going pending): scrape + evaluation."""
    floor: dict[str, float] | None
    floors_s: dict[str, float] | None
    reasons: list[str] = field(default_factory=list)
    fault_detail: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, str | None] = field(default_factory=dict)
    """What the service should do: the detecting alert, the paged service, the mitigation."""
    runbook_steps: list[dict[str, Any]] = field(default_factory=list)
    """Each runbook step the responder executed, with its time and outcome."""
    load_rps: float | None = None
    """Requests per second the service counted while the fault was in."""
    collateral_steps: list[dict[str, Any]] = field(default_factory=list)
    """Runbook steps run for pages of other alerts: reported, never judged (see `pages`)."""
    pages: list[dict[str, Any]] = field(default_factory=list)
    """Every page from injection to the end of the experiment's window (`mlchaos.engine.pages`)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def judge(experiment: Experiment, records: list[Record], floor: Floor | None) -> ExperimentResult:
    events = {r["event"]: r for r in records if r["type"] == "event"}
    times: dict[str, datetime | None] = {n: parse_time(r["time"]) for n, r in events.items()}
    spans = durations(times)
    fail, unsure = _targets(experiment, records, spans)
    unsure = _before_injection(records) + unsure
    invalid: list[str] = []
    signal = interrupted(records)
    if signal:
        # Events not waited for are unknown, not missed.
        fail, unsure = [], [f"interrupted by {signal} before every event was observed"]
    if "injected" not in times:
        unsure = unsure or [_why_not_injected(records)]
    else:
        invalid = _inactive(records)
        if "reverted" not in times:
            fail.append("the fault was not reverted; run `mlchaos recover` now")
    steps, collateral_steps = split_steps(
        [_step(r) for r in records if r["type"] == "runbook_step"],
        experiment.expect.detection.alert,
    )
    fail += [_defect(s) for s in steps if not s["ok"]]
    reasons = fail + invalid + unsure
    verdict = "fail" if fail else "invalid" if invalid else "inconclusive" if unsure else "pass"
    if "injected" not in times:
        verdict = "inconclusive"
    return ExperimentResult(
        name=experiment.name,
        fault=experiment.fault.type,
        verdict=verdict,
        timeline={e: _iso(times.get(e)) for e in EVENTS},
        sources={e: r["source"] for e, r in events.items()},
        durations_s=spans,
        targets_s=experiment.expect.targets(),
        floor_s=floor.of("mttd") if floor else None,
        floor=floor.as_dict() if floor else None,
        floors_s=floor.floors() if floor else None,
        reasons=reasons,
        fault_detail=experiment.fault.model_dump(mode="json"),
        expected=_expected(experiment),
        runbook_steps=steps,
        collateral_steps=collateral_steps,
    )


def overall(verdicts: list[str]) -> str:
    """The game day's verdict: the worst of its experiments'."""
    for verdict in VERDICT_ORDER:
        if verdict in verdicts:
            return "inconclusive" if verdict == "invalid" else verdict
    return "inconclusive"  # no experiment ran: nothing was shown to pass


def interrupted(records: list[Record]) -> str | None:
    """The signal that cut the run short, if one did (the rollbacks still played).

    chaoslib's own status says "interrupted" whenever the method stopped early, including
    after a failed injection or an inactive fault; only a recorded signal counts here.
    """
    return next((str(r["signal"]) for r in records if r["type"] == "interrupted"), None)


def _targets(
    experiment: Experiment, records: list[Record], spans: dict[str, float | None]
) -> tuple[list[str], list[str]]:
    missed = {r["event"]: r for r in records if r["type"] == "missed"}
    fail: list[str] = []
    unsure: list[str] = []
    injected = any(r["type"] == "event" and r["event"] == "injected" for r in records)
    active = all(r.get("active") for r in records if r["type"] == "fault_active")
    if not injected or not active:
        return fail, unsure
    for name, target in experiment.expect.targets().items():
        value, label = spans.get(name), LABELS[name]
        if value is not None:
            if value > target:
                fail.append(f"{label}: {value:.1f}s, over the {target:g}s target")
            continue
        why = missed.get(TARGET_EVENT[name])
        if why and why["status"] == "unreachable":
            unsure.append(f"{label}: cannot tell, {why['reason']}")
        else:
            reason = why["reason"] if why else "never observed"
            fail.append(f"{label}: target {target:g}s missed, {reason}")
    return fail, unsure


def _before_injection(records: list[Record]) -> list[str]:
    """Steady-state problems seen before the fault went in."""
    reasons = []
    for record in records:
        if record["type"] == "event" and record["event"] == "injected":
            break
        if record["type"] != "slo" or record["status"] == "holds":
            continue
        name = record["name"]
        if record["status"] == "violated" and record.get("role") == "serving":
            reasons.append(
                f"the service is not in steady state: {record['value']:.0%} of "
                f"{record.get('answered', '?')} requests succeeded at the gateway, need "
                f"{record['condition']}"
            )
        elif record["status"] == "violated" and record.get("role") == "traffic":
            reasons.append(f"no traffic: {record['value']:.2f} req/s, need {record['condition']}")
        elif record["status"] == "violated":
            reasons.append(
                f"steady state did not hold before injection: {name} = {record['value']:.4g}, "
                f"need {record['condition']}"
            )
        else:
            reasons.append(f"steady state {name}: {record['reason']}")
    return reasons


def _inactive(records: list[Record]) -> list[str]:
    return [
        f"the fault was not observably active: {r['evidence']}"
        for r in records
        if r["type"] == "fault_active" and not r["active"]
    ]


def _why_not_injected(records: list[Record]) -> str:
    for record in records:
        if record["type"] == "preflight_failed":
            return str(record["reason"])
        if record["type"] == "activity" and record.get("exception"):
            return f"the fault was not injected: {record['exception']}"
    return "the fault was not injected"


def _expected(experiment: Experiment) -> dict[str, str | None]:
    expect = experiment.expect
    return {
        "alert": expect.detection.alert,
        "paging_service": expect.paging.service if expect.paging else None,
        "mitigation": expect.mitigation.by if expect.mitigation else None,
    }


def _step(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("type", "written_at")}


def _defect(step: dict[str, Any]) -> str:
    """A failed runbook step fails the experiment: on-call would have hit the same wall."""
    return (
        f"runbook defect: {step['runbook']} step {step['step']!r} failed "
        f"({step.get('error') or 'no detail'})"
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
