"""The incident timeline: which events exist, their order, and the durations between them."""

from __future__ import annotations

from datetime import datetime

EVENTS = (
    "injected",
    "detected",  # the alert went pending: Prometheus's activeAt
    "fired",  # the alert went firing, ``for`` later: the first firing sample of ALERTS
    "paged",
    "acknowledged",
    "mitigated",
    "recovered",
    "reverted",
)

DURATIONS = {
    # name: (from event, to event). MTTA runs from the page, as PagerDuty defines it.
    "mttd": ("injected", "detected"),  # to pending, as Prometheus's activeAt says
    "time_to_fire": ("injected", "fired"),
    "time_to_page": ("injected", "paged"),
    "mtta": ("paged", "acknowledged"),
    "mttm": ("injected", "mitigated"),
    "mttr": ("injected", "recovered"),
}

TARGET_EVENT = {name: to for name, (_, to) in DURATIONS.items()}


def durations(times: dict[str, datetime | None]) -> dict[str, float | None]:
    """Seconds for each duration whose two events both happened."""
    out: dict[str, float | None] = {}
    for name, (start, end) in DURATIONS.items():
        a, b = times.get(start), times.get(end)
        out[name] = round((b - a).total_seconds(), 3) if a and b else None
    return out
