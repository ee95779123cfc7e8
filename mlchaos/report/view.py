"""What every report needs beyond ``results.json``: offsets from injection, the impact read
from the SLI series, and action items derived from each missed target and runbook defect.

>>> view = run_view(document, run_dir)
>>> view["experiments"][0]["offsets"]["detected"]
2.7
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from mlchaos.rundir import RunDir
from mlchaos.schema.results import Actor, ExperimentResults, ResultsDocument
from mlchaos.vocabulary import EVENTS, FIX, LABELS, STAND_INS, Verdict, shown_events

__all__ = [
    "action_items",
    "chronology",
    "experiment_view",
    "impact",
    "load_series",
    "offset",
    "run_view",
    "went_well",
]


def load_series(run_dir: Path, name: str) -> dict[str, Any]:
    path = RunDir(run_dir).series(name)
    if not path.exists():
        return {"slis": [], "error": "no SLI series were recorded for this experiment"}
    return dict(json.loads(path.read_text()))


def run_view(document: ResultsDocument, run_dir: Path) -> dict[str, Any]:
    """The templates' context: the results document, with a view of each experiment."""
    # over several services, each experiment's series are in its service's own run folder
    folders = {s.name: run_dir / s.run_dir for s in document.services if s.run_dir}
    experiments = [
        experiment_view(e, load_series(folders.get(e.service or "", run_dir), e.name))
        for e in document.experiments
    ]
    return {**document.model_dump(mode="json"), "experiments": experiments, "when": _when(document)}


def _when(document: ResultsDocument) -> str:
    """``2026-11-22 18:58:49 UTC, 2 min 5 s``: when the run started and how long it took."""
    try:
        start = datetime.fromisoformat(document.started_at)
        end = datetime.fromisoformat(document.finished_at)
    except ValueError:
        return document.started_at
    took = round((end - start).total_seconds())
    return f"{start:%Y-%m-%d %H:%M:%S} UTC, {took // 60} min {took % 60} s"


def experiment_view(exp: ExperimentResults, series: dict[str, Any]) -> dict[str, Any]:
    offsets: dict[str, float | None] = {
        event: offset(exp, exp.timeline.get(event)) for event in EVENTS
    }
    steps = [{**s.model_dump(), "offset": offset(exp, s.at)} for s in exp.runbook_steps]
    collateral = [{**s.model_dump(), "offset": offset(exp, s.at)} for s in exp.collateral_steps]
    pages = [
        {
            **p.model_dump(),
            "offset": offset(exp, p.triggered_at),
            "ack_offset": offset(exp, p.acknowledged_at),
            "resolved_offset": offset(exp, p.resolved_at),
        }
        for p in exp.pages
    ]
    return {
        **exp.model_dump(mode="json"),
        "offsets": offsets,
        "runbook_steps": steps,
        "collateral_steps": collateral,
        "pages": pages,
        "chronology": chronology(exp, offsets, steps),
        "series": series,
        "impact": impact(series),
        "went_well": went_well(exp),
        "action_items": action_items(exp),
    }


def offset(exp: ExperimentResults, at: str | None) -> float | None:
    injected = exp.timeline.get("injected")
    if injected is None or at is None:
        return None
    return round((datetime.fromisoformat(at) - datetime.fromisoformat(injected)).total_seconds(), 3)


def chronology(
    exp: ExperimentResults, offsets: dict[str, float | None], steps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Timeline events and runbook steps in the order they happened; missing events last."""
    rows = [
        {
            "at": exp.timeline.get(event),
            "offset": offsets[event],
            "what": event,
            "source": exp.sources.get(event, "—"),
            "by": _who(exp.actors.get(event)),
        }
        for event in shown_events(
            [e for e, v in offsets.items() if v is not None], exp.targets_s
        )
    ]
    rows += [
        {
            "at": step.get("at"),
            "offset": step["offset"],
            "what": f"runbook step {step['step']!r} {'ran' if step['ok'] else 'FAILED'} "
            f"(a drill, {step['duration_s']:g}s)",
            "source": f"runbook {step['runbook']}",
            "by": "mlchaos-responder (mlchaos)",
        }
        for step in steps
    ]
    return sorted(rows, key=lambda r: (r["offset"] is None, r["offset"] or 0.0))


def _who(actor: Actor | None) -> str:
    """``rollback-controller (team)``: who caused an event, and whose doing it was."""
    if actor is None or not actor.actor:
        return "—"
    return f"{actor.actor} ({actor.party or 'not recorded'})"


def impact(series: dict[str, Any]) -> list[str]:
    """For each SLO the fault broke: how long it was out of bounds and its worst value."""
    lines = []
    for sli in series.get("slis", []):
        if sli["name"] == "traffic" or not sli["points"]:
            continue
        below = sli["condition"].startswith("<")
        broken = [
            (t, v)
            for t, v in sli["points"]
            if (v >= sli["threshold"] if below else v <= sli["threshold"])
        ]
        if broken:
            peak = max(v for _, v in broken) if below else min(v for _, v in broken)
            lines.append(
                f"{sli['name']} was out of bounds ({sli['condition']}) for {len(broken)} s, "
                f"at worst {peak:.4g}"
            )
    return lines


def went_well(exp: ExperimentResults) -> list[str]:
    """The targets the team's own systems met (a simulated duration went neither well nor
    badly: it was mlchaos's doing)."""
    return [
        f"{LABELS[key]} took {value:.1f}s, within the {target:g}s target"
        for key, target in exp.targets_s.items()
        if key not in exp.simulated
        and (value := exp.durations_s.get(key)) is not None
        and value <= target
    ]


def action_items(exp: ExperimentResults) -> list[str]:
    """One item per missed target and per runbook defect, each saying what to look at."""
    items = []
    alert = exp.expected.alert if exp.expected else None
    by = exp.expected.mitigation if exp.expected else None
    for key, target in exp.targets_s.items():
        value = exp.durations_s.get(key)
        if key in exp.simulated:
            if key not in STAND_INS:  # the team's systems never did it: mlchaos did
                items.append(
                    f"{LABELS[key]} was never the team's doing ({exp.simulated[key]}): "
                    + FIX[key].format(alert=alert or "the alert", by=by or "the mitigation")
                )
            continue
        if value is not None and value <= target:
            continue
        measured = f"{value:.1f}s" if value is not None else "never happened"
        fix = FIX[key].format(alert=alert or "the detecting alert", by=by or "the mitigation step")
        items.append(f"{LABELS[key]} {measured} against a {target:g}s target: {fix}")
    for step in [*exp.runbook_steps, *exp.collateral_steps]:
        if not step.ok:
            items.append(
                f"fix runbook {step.runbook}: step {step.step!r} failed "
                f"({step.error or 'no detail'})"
            )
    if exp.verdict in (Verdict.INCONCLUSIVE, Verdict.INVALID):
        items += [f"make the game day able to tell: {r}" for r in exp.reasons]
    return items
