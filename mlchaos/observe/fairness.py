"""The fairness gap between segments while a fault was in: the team's figure per segment (the
service file's ``segments.score``: an approval rate, a mean score against the segment's
reference, an accuracy), and the largest minus the smallest, read from Prometheus.

    gap(t) = max over segments of score(t) - min over segments of score(t)

It is read at injection (before the fault could move it), at its peak over the window (a sample
a second) and at the window's end. Reported, never judged: a segment regression fails on the
team's own alerts and SLOs, and a gap that is already wide before the fault is the team's to see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlchaos.burnrate import prom_duration
from mlchaos.errors import ObservationError
from mlchaos.observe.adapters import Metrics
from mlchaos.observe.budget import value_at

__all__ = ["gap"]


def gap(metrics: Metrics, score: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The gap's figures over ``[start, end]``; ``reason`` says why one is missing."""
    spread = f"(max({score}) - min({score}))"
    counted = f"count({score})"
    span = prom_duration(max(1.0, round((end - start).total_seconds())))
    found: dict[str, Any] = {"source": f"Prometheus: the service file's segments.score ({score})"}
    try:
        segments = value_at(metrics, f"max_over_time({counted}[{span}:1s])", end)
        found["segments"] = int(segments) if segments is not None else 0
        found["before"] = value_at(metrics, spread, start)
        found["peak"] = value_at(metrics, f"max_over_time({spread}[{span}:1s])", end)
        found["end"] = value_at(metrics, spread, end)
    except ObservationError as exc:
        return {"reason": f"Prometheus could not be read: {exc}"}
    if found["segments"] < 2:
        found["reason"] = (f"no data: segments.score gave {found['segments']} segment(s) over "
                           "the window, and a gap needs two")  # fmt: skip
        found["before"] = found["peak"] = found["end"] = None
    return found
