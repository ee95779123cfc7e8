"""The incident timeline: the durations between the events the journal recorded.

The events and durations themselves are declared once, in `mlchaos.vocabulary`.
"""

from __future__ import annotations

from datetime import datetime

from mlchaos.vocabulary import MEASURES

__all__ = ["durations"]


def durations(times: dict[str, datetime | None]) -> dict[str, float | None]:
    """Seconds for each duration whose two events both happened."""
    out: dict[str, float | None] = {}
    for m in MEASURES:
        a, b = times.get(m.start), times.get(m.end)
        out[m.name] = round((b - a).total_seconds(), 3) if a and b else None
    return out
