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

from mlchaos.vocabulary import EVENTS, FIX, LABELS, STAND_INS, Verdict

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
    path = run_dir / "series" / f"{name}.json"
    if not path.exists():
        return {"slis": [], "error": "no SLI series were recorded for this experiment"}
    return dict(json.loads(path.read_text()))


def run_view(document: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The results document with a view of each experiment, for the templates."""
    experiments = [
        experiment_view(e, load_series(run_dir, e["name"])) for e in document["experiments"]
    ]
    return {
        **document,
        "experiments": experiments,
        "when": _when(document),
        "false_alarms": document.get("false_alarms") or [],  # absent from older runs
        "baseline": document.get("baseline") or {"problems": [], "inherited_alerts": {}},
        "false_alarm_check": document.get("false_alarm_check"),  # absent from older runs
        "left_as_found": document.get("left_as_found"),
    }


def _when(document: dict[str, Any]) -> str:
    """``2026-11-22 18:58:49 UTC, 2 min 5 s``: when the run started and how long it took."""
    try:
        start = datetime.fromisoformat(document["started_at"])
        end = datetime.fromisoformat(document["finished_at"])
    except (KeyError, ValueError):
        return str(document.get("started_at", ""))
    took = round((end - start).total_seconds())
    return f"{start:%Y-%m-%d %H:%M:%S} UTC, {took // 60} min {took % 60} s"


def experiment_view(exp: dict[str, Any], series: dict[str, Any]) -> dict[str, Any]:
    offsets: dict[str, float | None] = {
        event: offset(exp, exp["timeline"].get(event)) for event in EVENTS
    }
    steps = [{**s, "offset": offset(exp, s.get("at"))} for s in exp.get("runbook_steps", [])]
    collateral = [
        {**s, "offset": offset(exp, s.get("at"))} for s in exp.get("collateral_steps", [])
    ]
    pages = [
        {
            **p,
            "offset": offset(exp, p["triggered_at"]),
            "ack_offset": offset(exp, p.get("acknowledged_at")),
            "resolved_offset": offset(exp, p.get("resolved_at")),
        }
        for p in exp.get("pages", [])  # absent from older runs
    ]
    return {
        **exp,
        "offsets": offsets,
        "runbook_steps": steps,
        "collateral_steps": collateral,
        "pages": pages,
        "version_mismatch": exp.get("version_mismatch"),  # absent from older runs
        "actors": exp.get("actors") or {},
        "simulated": exp.get("simulated") or {},
        "notes": exp.get("notes") or [],
        "baseline": exp.get("baseline"),
        "chronology": chronology(exp, offsets, steps),
        "series": series,
        "impact": impact(series),
        "went_well": went_well(exp),
        "action_items": action_items(exp),
    }


def offset(exp: dict[str, Any], at: str | None) -> float | None:
    injected = exp["timeline"].get("injected")
    if injected is None or at is None:
        return None
    return round((datetime.fromisoformat(at) - datetime.fromisoformat(injected)).total_seconds(), 3)


def chronology(
    exp: dict[str, Any], offsets: dict[str, float | None], steps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Timeline events and runbook steps in the order they happened; missing events last."""
    actors = exp.get("actors") or {}
    rows = [
        {
            "at": exp["timeline"].get(event),
            "offset": offsets[event],
            "what": event,
            "source": exp["sources"].get(event, "—"),
            "by": _who(actors.get(event)),
        }
        for event in EVENTS
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


def _who(actor: dict[str, Any] | None) -> str:
    """``rollback-controller (team)``: who caused an event, and whose doing it was."""
    if not actor or not actor.get("actor"):
        return "—"
    return f"{actor['actor']} ({actor.get('party') or 'not recorded'})"


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


def went_well(exp: dict[str, Any]) -> list[str]:
    """The targets the team's own systems met (a simulated duration went neither well nor
    badly: it was mlchaos's doing)."""
    simulated = exp.get("simulated") or {}
    return [
        f"{LABELS[key]} took {exp['durations_s'][key]:.1f}s, within the {target:g}s target"
        for key, target in exp["targets_s"].items()
        if key not in simulated
        and exp["durations_s"].get(key) is not None
        and exp["durations_s"][key] <= target
    ]


def action_items(exp: dict[str, Any]) -> list[str]:
    """One item per missed target and per runbook defect, each saying what to look at."""
    items = []
    expected = exp.get("expected", {})
    simulated = exp.get("simulated") or {}
    for key, target in exp["targets_s"].items():
        value = exp["durations_s"].get(key)
        if key in simulated:
            if key not in STAND_INS:  # the team's systems never did it: mlchaos did
                items.append(
                    f"{LABELS[key]} was never the team's doing ({simulated[key]}): "
                    + FIX[key].format(
                        alert=expected.get("alert") or "the alert",
                        by=expected.get("mitigation") or "the mitigation",
                    )
                )
            continue
        if value is not None and value <= target:
            continue
        measured = f"{value:.1f}s" if value is not None else "never happened"
        fix = FIX[key].format(
            alert=expected.get("alert") or "the detecting alert",
            by=expected.get("mitigation") or "the mitigation step",
        )
        items.append(f"{LABELS[key]} {measured} against a {target:g}s target: {fix}")
    for step in [*exp.get("runbook_steps", []), *exp.get("collateral_steps", [])]:
        if not step["ok"]:
            items.append(
                f"fix runbook {step['runbook']}: step {step['step']!r} failed "
                f"({step.get('error') or 'no detail'})"
            )
    if exp["verdict"] in (Verdict.INCONCLUSIVE, Verdict.INVALID):
        items += [f"make the game day able to tell: {r}" for r in exp["reasons"]]
    return items
