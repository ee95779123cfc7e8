"""Steady-state checks and the moment of recovery, both from Prometheus's own samples."""

from __future__ import annotations

from datetime import datetime

from mlchaos.errors import ObservationError
from mlchaos.journal import Journal, SloCheck
from mlchaos.observe.adapters import Metrics
from mlchaos.schema import Slo
from mlchaos.vocabulary import CheckRole

__all__ = ["check", "recovered_at", "worst"]


def check(journal: Journal, prometheus: Metrics, slo: Slo, role: str = CheckRole.SLO) -> bool:
    """Evaluate ``slo`` now and record it. Holds only on a real value that meets the bound.

    No series (an empty result) and an unreachable Prometheus are recorded as such, and never
    count as holding.
    """
    try:
        values = prometheus.values(slo.query)
    except ObservationError as exc:
        journal.write(SloCheck(role=role, name=slo.name, status="unreachable", reason=str(exc)))
        return False
    if not values:
        journal.write(
            SloCheck(
                role=role,
                name=slo.name,
                status="no_data",
                query=slo.query,
                reason=f"query returned no series: {slo.query}",
            )
        )
        return False
    value = worst(slo, values)
    holds = slo.holds(value)
    journal.write(
        SloCheck(
            role=role,
            name=slo.name,
            value=value,
            condition=slo.condition,
            status="holds" if holds else "violated",
        )
    )
    return holds


def worst(slo: Slo, values: list[float]) -> float:
    """The value furthest on the wrong side: the highest for ``below``, the lowest for ``above``."""
    return max(values) if slo.below is not None else min(values)


def recovered_at(
    prometheus: Metrics,
    slos: tuple[Slo, ...],
    since: datetime,
    until: datetime,
    step_s: float,
    stable_for_s: float,
) -> tuple[datetime | None, bool]:
    """When every SLO started holding for good after its last breach since ``since``.

    Returns ``(time, breached)``: ``time`` is the first point of the final run in which all
    hold (on a ``step_s`` grid from ``since``, so at most ``step_s`` after the scrape that made
    them hold), if that run has lasted ``stable_for_s``; ``breached`` says whether any SLO broke
    at all.
    Raises `ObservationError` when an SLO has no samples at all: that is inconclusive, not a miss.
    """
    # Prometheus answers at most 11,000 points a series: a long wait coarsens the grid.
    step_s = max(step_s, (until - since).total_seconds() / 10_000)
    per_slo = [(slo, prometheus.range_values(slo.query, since, until, step_s)) for slo in slos]
    for slo, samples in per_slo:
        if not samples:  # no data is not health: the verdict must say it could not tell
            raise ObservationError(f"SLO {slo.name} returned no samples since injection")
    stamps_seen = set().union(*(samples.keys() for _, samples in per_slo))
    # A stamp holds only where every SLO has a sample, and every sample meets its bound.
    holding = {
        stamp: all(
            stamp in samples and slo.holds(worst(slo, samples[stamp])) for slo, samples in per_slo
        )
        for stamp in stamps_seen
    }
    stamps = sorted(holding)
    breaches = [s for s in stamps if not holding[s]]
    if not breaches:
        return None, False
    after = [s for s in stamps if s > breaches[-1]]
    if not after or stamps[-1] - after[0] < stable_for_s:
        return None, True
    return datetime.fromtimestamp(after[0]).astimezone(), True
