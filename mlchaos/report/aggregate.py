"""Many runs at once: the pass rate per experiment and the MTTx distribution across nights.

>>> summary = aggregate([read_results(d) for d in run_dirs])
>>> print(aggregate_table(summary))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlchaos.report import svg
from mlchaos.report.templating import environment, render
from mlchaos.schema.results import ExperimentResults, ResultsDocument
from mlchaos.vocabulary import HEADLINE, LABELS, Verdict

__all__ = [
    "MEASURES",
    "RELEASES",
    "ExperimentHistory",
    "aggregate",
    "aggregate_table",
    "percentile",
    "practice",
    "render_aggregate",
]

MEASURES = HEADLINE
RELEASES = frozenset({"bad_version", "good_version", "segment_regression"})
"""Faults that put a version into service, as a release would: what a rollback rate counts."""


@dataclass
class ExperimentHistory:
    name: str
    verdicts: list[str] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    within: dict[str, list[bool]] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        return self.verdicts.count(Verdict.PASS) / len(self.verdicts)

    def stats(self, key: str) -> dict[str, float | None]:
        values = sorted(self.values.get(key, []))
        within = self.within.get(key, [])
        return {
            "p50": percentile(values, 0.5),
            "p90": percentile(values, 0.9),
            "within": sum(within) / len(within) if within else None,
            "target": self.targets.get(key),
        }


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def aggregate(documents: list[ResultsDocument]) -> dict[str, Any]:
    """``documents``: results.json contents, in any order; they are sorted by start time."""
    runs = sorted(documents, key=lambda d: d.started_at)
    histories: dict[tuple[str, str], ExperimentHistory] = {}
    for run in runs:  # by service, then experiment: one name can be two services' experiments
        for exp in run.experiments:
            key = (exp.service or run.service or "", exp.name)
            _add(histories.setdefault(key, ExperimentHistory(exp.name)), exp)
    if len({service for service, _ in histories}) > 1:
        for (service, name), history in histories.items():
            history.name = f"{service or 'unnamed'}/{name}"
    return {
        "runs": runs,
        "experiments": [histories[k] for k in sorted(histories)],
        "practice": practice([e for run in runs for e in run.experiments]),
        "weeks": [*_weeks(runs), {"week": "all", "runs": len(runs),
                                   **practice([e for run in runs for e in run.experiments])}],
    }  # fmt: skip


def practice(experiments: list[ExperimentResults]) -> dict[str, Any]:
    """The change-management figures over ``experiments`` that were injected:

    - rollback rate: of the releases (`RELEASES`), the share the team's systems took back out
      (a rollback served, or a canary aborted), mlchaos's own undo never counted;
    - canary pass rate: of the canaries, the share that passed (a bad one aborted in time, a
      good one promoted);
    - MTTR p50 and p90 (the team's, simulated ones aside), and the share of experiments that
      met every target (passed)."""
    injected = [e for e in experiments if e.timeline.get("injected")]
    releases = [e for e in injected if e.fault in RELEASES]
    rolled_back = [e for e in releases if _taken_out(e)]
    canaries = [e for e in injected if e.rollout is not None]
    mttr = sorted(
        v for e in injected
        if (v := e.durations_s.get("mttr")) is not None and "mttr" not in e.simulated
    )  # fmt: skip
    return {
        "experiments": len(injected),
        "releases": len(releases),
        "rollback_rate": len(rolled_back) / len(releases) if releases else None,
        "canaries": len(canaries),
        "canary_pass_rate": (
            sum(e.verdict == Verdict.PASS for e in canaries) / len(canaries) if canaries else None
        ),
        "mttr_p50": percentile(mttr, 0.5),
        "mttr_p90": percentile(mttr, 0.9),
        "within_target": (
            sum(e.verdict == Verdict.PASS for e in injected) / len(injected) if injected else None
        ),
    }


def _taken_out(exp: ExperimentResults) -> bool:
    """The team's systems took the release out of service: by rollback, or by aborting it."""
    for event in ("mitigated", "aborted"):
        actor = exp.actors.get(event)
        if exp.timeline.get(event) and actor is not None and actor.party == "team":
            return event == "aborted" or (exp.expected is not None and
                                          exp.expected.mitigation == "rollback")  # fmt: skip
    return False


def _weeks(runs: list[ResultsDocument]) -> list[dict[str, Any]]:
    """The practice's figures per ISO week of the runs' starts, oldest first."""
    by_week: dict[str, list[ResultsDocument]] = {}
    for run in runs:
        year, week, _ = datetime.fromisoformat(run.started_at).isocalendar()
        by_week.setdefault(f"{year}-W{week:02d}", []).append(run)
    return [
        {"week": week, "runs": len(found),
         **practice([e for run in found for e in run.experiments])}
        for week, found in sorted(by_week.items())
    ]  # fmt: skip


def _add(history: ExperimentHistory, exp: ExperimentResults) -> None:
    history.verdicts.append(exp.verdict)
    history.targets.update(exp.targets_s)
    for key in MEASURES:
        value, target = exp.durations_s.get(key), exp.targets_s.get(key)
        if key in exp.simulated:
            continue  # mlchaos's doing: no figure of the team's, in or out of target
        if value is not None:
            history.values.setdefault(key, []).append(value)
        if target is not None and exp.timeline.get("injected"):
            # A missing event counts against the target: it never came.
            history.within.setdefault(key, []).append(value is not None and value <= target)


def aggregate_table(summary: dict[str, Any]) -> str:
    header = [
        "experiment",
        "runs",
        "pass rate",
        *(k.upper() + " p50/p90 (within)" for k in MEASURES),
    ]
    rows = [header]
    for history in summary["experiments"]:
        cells = [history.name, str(len(history.verdicts)), f"{history.pass_rate:.0%}"]
        cells += [_cell(history.stats(key)) for key in MEASURES]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(stats: dict[str, float | None]) -> str:
    p50, p90, within = stats["p50"], stats["p90"], stats["within"]
    if p50 is None or p90 is None:
        return "-" if within is None else f"never ({within:.0%})"
    share = f" ({within:.0%})" if within is not None else ""
    return f"{p50:.1f}/{p90:.1f}s{share}"


def render_aggregate(
    summary: dict[str, Any], out_dir: Path, template_dir: Path | None = None
) -> list[Path]:
    """``aggregate.md`` (the table) and ``aggregate.html`` (the table and trend charts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    context = {
        "summary": summary,
        "table": aggregate_table(summary),
        "trends": [_trend(summary, key) for key in MEASURES],
        "labels": LABELS,
        "measures": MEASURES,
    }
    paths = []
    for name, autoescape in (("aggregate.md", False), ("aggregate.html", True)):
        text = render(environment(template_dir, autoescape=autoescape), f"{name}.j2", **context)
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return paths


def _trend(summary: dict[str, Any], key: str) -> dict[str, Any]:
    runs = [
        {
            "label": run.started_at[5:16].replace("T", " "),
            "values": {e.name: e.durations_s.get(key) for e in run.experiments},
        }
        for run in summary["runs"]
    ]
    targets = [t for h in summary["experiments"] if (t := h.targets.get(key)) is not None]
    return {**svg.trend(runs, key, targets), "label": LABELS[key]}
