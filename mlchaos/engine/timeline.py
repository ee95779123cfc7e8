"""The incident timeline: the durations between the events the journal recorded, and the
order every timeline must keep.

The events and durations themselves are declared once, in `mlchaos.vocabulary`.
"""

from __future__ import annotations

from datetime import datetime

from mlchaos.vocabulary import MEASURES

__all__ = ["ORDER", "durations", "out_of_order"]


def durations(
    times: dict[str, datetime | None], starts: dict[str, datetime] | None = None
) -> dict[str, float | None]:
    """Seconds for each duration whose two events both happened. A duration starts at its
    first event's ``starts`` time when there is one (the earliest it can have happened, for a
    time its owner rounds), so rounding never shortens it."""
    starts = starts or {}
    out: dict[str, float | None] = {}
    for m in MEASURES:
        a, b = starts.get(m.start) or times.get(m.start), times.get(m.end)
        out[m.name] = round((b - a).total_seconds(), 3) if a and b else None
    return out


ORDER: tuple[tuple[str, str, str], ...] = (
    ("injected", "detected", "an alert cannot go pending on a change before it is made"),
    ("detected", "fired", "an alert fires only after it went pending"),
    ("fired", "paged", "Alertmanager pages only for a firing alert"),
    ("paged", "acknowledged", "only a page can be acknowledged"),
    ("paged", "escalated", "only a page can escalate"),
    ("injected", "mitigated", "nothing mitigates a fault before it is in"),
    ("injected", "recovered", "nothing recovers from a fault before it is in"),
)
"""Pairs of events the first of which must come strictly first, and why."""


def out_of_order(
    times: dict[str, datetime | None], for_s: float = 0.0, starts: dict[str, datetime] | None = None
) -> list[str]:
    """Each broken rule of order, as a clock or source defect: an event before its cause, or an
    alert that fired sooner after going pending than its rule's ``for`` allows."""
    starts = starts or {}
    found = []
    for first, then, why in ORDER:
        a, b = starts.get(first) or times.get(first), times.get(then)
        if a is not None and b is not None and b <= a:
            gap = (b - a).total_seconds()
            found.append(f"{then} {gap:+.3f}s from {first}: {why}")
    pending, firing = times.get("detected"), times.get("fired")
    if pending and firing and 0 < (firing - pending).total_seconds() < for_s - 1e-3:
        gap = (firing - pending).total_seconds()
        found.append(
            f"fired {gap:.3f}s after it went pending, less than the rule's `for` ({for_s:g}s)"
        )
    return found
