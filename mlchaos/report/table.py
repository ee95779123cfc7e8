"""The summary table a game day prints last: verdicts and MTTx against targets and the floor.

A duration that ends in mlchaos's doing (its simulated responder's acknowledgement) shows as
``simulated``, with no ✓ or ✗: it is never compared with a target."""

from __future__ import annotations

from mlchaos.schema.results import ExperimentResults, ResultsDocument
from mlchaos.vocabulary import MEASURES, Span

__all__ = ["COLUMNS", "summary_table"]

COLUMNS = tuple((m.column, m.name) for m in MEASURES if m.column)


def summary_table(document: ResultsDocument) -> str:
    canaries = any(e.rollout is not None for e in document.experiments)
    privacy = any(e.privacy is not None for e in document.experiments)
    header = ["experiment", "verdict", *(c for c, _ in COLUMNS), "floor"]
    header += ["canary (from the answers)"] if canaries else []
    header += ["privacy (PII canaries)"] if privacy else []
    approval = any(e.approval is not None for e in document.experiments)
    header += ["approval gate (poisoned retrain)"] if approval else []
    rows = [header]
    for exp in document.experiments:
        # over several services, each experiment's service names it: service/experiment
        cells = [f"{exp.service}/{exp.name}" if exp.service else exp.name, exp.verdict.upper()]
        injected = exp.timeline.get("injected") is not None
        for _, key in COLUMNS:
            target = exp.targets_s.get(key)
            value = exp.durations_s.get(key)
            if not injected:
                cells.append("-")
            elif key in exp.simulated and value is not None:
                cells.append(f"{value:.1f}s simulated")  # mlchaos's doing: never judged
            else:
                cells.append(_cell(value, target))
        cells.append(f"{exp.floor_s:g}s" if exp.floor_s is not None else "-")
        if canaries:
            cells.append(_canary(exp))
        if privacy:
            cells.append(_privacy(exp))
        if approval:
            cells.append(_approval(exp))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", _footer(document)])


def _footer(document: ResultsDocument) -> str:
    load = document.load
    footer = f"game day {document.scenario}: {document.verdict.upper()}"
    if load:
        footer += (
            f"; load {load.achieved_rps:g} req/s achieved of {load.target_rps:g} "
            f"({load.requests} requests, {load.failures} failed"
            + (f", from {load.workers} Locust workers)" if load.workers else ")")
        )
    for svc in document.services:
        footer += f"\n  {svc.name}: {svc.verdict.upper()}"
        footer += " (interrupted)" if svc.interrupted else ""
        if svc.load:
            footer += f"; load {svc.load.achieved_rps:g} req/s achieved of {svc.load.target_rps:g}"
        footer += f"; reports in {svc.run_dir}/" if svc.run_dir else ""
    for problem in document.baseline.problems:
        footer += f"\nBASELINE: {problem}"
    for alarm in document.false_alarms:
        footer += f"\nFALSE ALARM: {alarm}"
    check = document.false_alarm_check
    if check is not None and check.status != "checked":
        footer += f"\nBEFORE THE FIRST FAULT ({check.status}): {check.reason}"
    left = document.left_as_found
    if left is not None and left.problem:
        footer += f"\nSTAGING NOT LEFT AS FOUND: {left.problem}"
    elif left is not None and left.restored:
        footer += (
            f"\nleft as found: {', '.join(left.served)} served after the last experiment; "
            f"mlchaos restored {left.expected}"
        )
    served = [e.load_rps for e in document.experiments if e.load_rps is not None]
    if served:
        footer += f"\nserved during the experiments: {min(served):g}–{max(served):g} req/s"
    return footer


def _canary(exp: ExperimentResults) -> str:
    """What the rollout did with the candidate, timed against the expected outcome's target:
    ``aborted 3.6s ✓ ≤30s, peak share 1.1%``; ``promoted, not aborted ✗, peak share 100.0%``."""
    rollout = exp.rollout
    if rollout is None:
        return "-"
    span = Span.TIME_TO_ABORT if rollout.expected == "aborted" else Span.TIME_TO_PROMOTE
    timed = _cell(exp.durations_s.get(span), exp.targets_s.get(span))
    if rollout.outcome == rollout.expected:
        shown = f"{rollout.outcome} {timed}"
    else:
        shown = f"{rollout.outcome}, not {rollout.expected} ✗"
    if rollout.largest_share is not None and rollout.expected == "aborted":
        shown += f", peak share {rollout.largest_share:.1%}"  # how far the bad version got
    return shown


def _privacy(exp: ExperimentResults) -> str:
    """Where the canaries were found, or how many places held none: ``found 20 ✗ in
    inference-log``; ``none found in 4 places``; ``2 places unsearchable``."""
    privacy = exp.privacy
    if privacy is None:
        return "-"
    found = [s.sink for s in privacy.sinks if s.finds]
    if found:
        return f"found {privacy.found} ✗ in {', '.join(found)}"
    unread = [s.sink for s in privacy.sinks if s.error]
    if unread:
        return f"{', '.join(unread)} unsearchable"
    return f"none found in {len(privacy.sinks)} places"


def _approval(exp: ExperimentResults) -> str:
    """What the gate did with each version trained on the poison: ``v5 rejected 6.2s ✓ ≤60s``;
    ``v5 approved ✗, served``; ``no version registered``."""
    approval = exp.approval
    if approval is None:
        return "-"
    if not approval.versions:
        return "no version registered"
    shown = []
    within = approval.rejected_within_s
    for v in approval.versions:
        if v.outcome == "rejected":
            cell = f"v{v.version} rejected {_cell(v.time_to_decision_s, within)}"
        else:
            cell = f"v{v.version} {v.outcome} ✗" if v.outcome != "other" else f"v{v.version} ?"
        if v.alias_named_at or v.served_answers:
            cell += ", served ✗"
        shown.append(cell)
    return "; ".join(shown)


def _cell(value: float | None, target: float | None) -> str:
    if value is None and target is None:
        return "-"
    shown = f"{value:.1f}s" if value is not None else "never"
    if target is None:
        return shown
    mark = "✓" if value is not None and value <= target else "✗"
    return f"{shown} {mark} ≤{target:g}s"
