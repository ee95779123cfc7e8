"""Geometry for the HTML report's pictures; the template draws it as inline SVG.

- `timeline`: one row per event on a shared axis from injection, each target as a tick, the
  pipeline's floor as a band, runbook steps as diamonds;
- `chart`: one SLI over the experiment's window, with its threshold, the fault window and
  the detected and recovered moments;
- `trend`: MTTx per run across nights, for `mlchaos report` over many runs.
"""

from __future__ import annotations

import math
from typing import Any

from mlchaos.vocabulary import FROM_PAGE, TARGET_OF_EVENT, Event, shown_events

__all__ = ["COLOURS", "chart", "timeline", "trend"]

LEFT, PLOT, ROW = 120.0, 560.0, 26.0
COLOURS = {
    "met": "#1a7f37",
    "missed": "#cf222e",
    "neutral": "#0969da",
    "never": "#8c959f",
    "simulated": "#8250df",
}


def timeline(exp: dict[str, Any]) -> dict[str, Any]:
    offsets: dict[str, float | None] = exp["offsets"]
    targets: dict[str, float] = exp["targets_s"]
    steps = exp.get("runbook_steps", [])
    floor = exp.get("floor_s")
    known = [v for v in offsets.values() if v is not None]
    known += [s["offset"] for s in steps if s["offset"] is not None]
    span = _nice(max([*known, *_due(offsets, targets).values(), floor or 0.0, 1.0]) * 1.05)

    def x(seconds: float) -> float:
        return round(LEFT + PLOT * max(0.0, min(seconds, span)) / span, 1)

    due = _due(offsets, targets)
    simulated = _simulated_events(exp)
    events = shown_events([e for e, v in offsets.items() if v is not None], targets)
    rows = [
        _event_row(event, offsets[event], due, i, x, event in simulated)
        for i, event in enumerate(events)
    ]
    step_y = ROW * (len(events) + 0.5)
    diamonds = [
        {
            "x": x(s["offset"]),
            "y": step_y,
            "ok": s["ok"],
            "label": f"{s['step']} ({'ok' if s['ok'] else 'failed'})",
        }
        for s in steps
        if s["offset"] is not None
    ]
    height = ROW * (len(events) + (1.5 if diamonds else 0.5)) + 24
    return {
        "width": LEFT + PLOT + 80,
        "height": height,
        "rows": rows,
        "steps": diamonds,
        "steps_y": step_y,
        "floor": {"x0": x(0), "x1": x(floor), "label": f"floor {floor:g}s"} if floor else None,
        "axis": [{"x": x(t), "label": f"{t:g}s"} for t in _ticks(span)],
        "axis_y": height - 8,
        "plot_bottom": height - 22,
        "colours": COLOURS,
    }


def _due(offsets: dict[str, float | None], targets: dict[str, float]) -> dict[str, float]:
    """Each event's deadline as an offset from injection; the acknowledgement's and the
    escalation's run from the page."""
    due = {e: targets[k] for e, k in TARGET_OF_EVENT.items() if k in targets}
    paged = offsets.get(Event.PAGED)
    for event, span in FROM_PAGE.items():
        if span in targets and paged is not None:
            due[event] = paged + targets[span]
    return due


def _simulated_events(exp: dict[str, Any]) -> set[str]:
    """Events mlchaos caused: their rows are drawn as simulated, never as met or missed."""
    return {e for e, a in (exp.get("actors") or {}).items() if a.get("party") == "mlchaos"}


def _event_row(
    event: str, value: float | None, due: dict[str, float], index: int, x: Any,
    simulated: bool = False,
) -> dict[str, Any]:  # fmt: skip
    target = due.get(event)
    status = "never" if value is None else "neutral"
    if value is not None and target is not None:
        status = "met" if value <= target else "missed"
    if simulated and value is not None and target is not None:
        status = "simulated"
    return {
        "event": event,
        "y": ROW * (index + 0.5),
        "x0": x(0),
        "x": x(value) if value is not None else None,
        "label": (f"+{value:.1f}s" + (" simulated" if status == "simulated" else ""))
        if value is not None
        else "never",
        # Right of the marker, and of the target's tick when it is near, so neither hides it.
        "label_x": _label_x(x(value) if value is not None else None, x(target) if target else None),
        "colour": COLOURS[status],
        "status": status,
        "target": {"x": x(target), "label": f"≤{target:.3g}s"} if target is not None else None,
    }


def _label_x(marker: float | None, tick: float | None) -> float | None:
    if marker is None:
        return None
    if tick is not None and marker - 4 <= tick <= marker + 110:
        return tick + 8
    return marker + 10


def chart(
    sli: dict[str, Any], offsets: dict[str, float | None], window: dict[str, Any]
) -> dict[str, Any]:
    width, height, pad = 360.0, 150.0, 34.0
    points = sli.get("points") or []
    start = float(window.get("start_s", -15.0))
    end = float(window.get("end_s", max([p[0] for p in points] or [1.0])))
    end = max(end, start + 1.0)
    values = [p[1] for p in points] + [sli["threshold"]]
    top = _nice(max(values) * 1.15) if max(values) > 0 else 1.0

    def x(t: float) -> float:
        return round(pad + (width - pad - 8) * (t - start) / (end - start), 1)

    def y(v: float) -> float:
        return round(height - 22 - (height - 40) * min(max(v, 0.0), top) / top, 1)

    marks = [
        {"x": x(t), "event": event}
        for event in (Event.DETECTED, Event.RECOVERED)
        if (t := offsets.get(event)) is not None and start <= t <= end
    ]
    reverted = offsets.get(Event.REVERTED) or 0.0
    return {
        "name": sli["name"],
        "condition": sli["condition"],
        "error": sli.get("error"),
        "width": width,
        "height": height,
        "line": " ".join(f"{x(t)},{y(v)}" for t, v in points),
        "threshold_y": y(sli["threshold"]),
        "fault": {"x0": x(max(0.0, start)), "x1": x(min(reverted, end))},
        "marks": marks,
        "top": f"{top:.3g}",
        "x_labels": [{"x": x(t), "label": f"{t:+.0f}s"} for t in (start, 0.0, end)],
        "plot": {"x0": pad, "x1": width - 8, "y0": 18.0, "y1": height - 22},
    }


def trend(runs: list[dict[str, Any]], key: str, targets: list[float]) -> dict[str, Any]:
    """``runs``: [{"label": ..., "values": {experiment: seconds or None}}], oldest first."""
    width, height, pad = 640.0, 220.0, 44.0
    names = sorted({n for r in runs for n in r["values"]})
    seen = [v for r in runs for v in r["values"].values() if v is not None]
    top = _nice(max([*seen, *targets, 1.0]) * 1.1)
    count = max(len(runs) - 1, 1)

    def x(i: int) -> float:
        return round(pad + (width - pad - 12) * i / count, 1)

    def y(v: float) -> float:
        return round(height - 28 - (height - 48) * min(v, top) / top, 1)

    palette = [
        "#0969da",
        "#cf222e",
        "#1a7f37",
        "#8250df",
        "#bf8700",
        "#1b7c83",
        "#e16f24",
        "#6e7781",
    ]
    lines = []
    for i, name in enumerate(names):
        points = [
            (x(j), y(v)) for j, r in enumerate(runs) if (v := r["values"].get(name)) is not None
        ]
        lines.append(
            {
                "name": name,
                "colour": palette[i % len(palette)],
                "points": " ".join(f"{a},{b}" for a, b in points),
                "dots": [{"x": a, "y": b} for a, b in points],
            }
        )
    return {
        "key": key,
        "width": width,
        "height": height,
        "lines": lines,
        "targets": [{"y": y(t), "label": f"≤{t:g}s"} for t in sorted(set(targets))],
        "top": f"{top:g}s",
        "y_top": y(top),
        "y_zero": y(0.0),
        "x_labels": [{"x": x(j), "label": r["label"]} for j, r in enumerate(runs)][
            :: max(1, len(runs) // 6)
        ],
        "pad": pad,
    }


def _nice(value: float) -> float:
    """Round up to 1, 2 or 5 times a power of ten, so axes end on readable numbers."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _ticks(span: float) -> list[float]:
    step = _nice(span / 6)
    step = next(s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, step) if s >= step)
    return [i * step for i in range(int(span / step) + 1)]
