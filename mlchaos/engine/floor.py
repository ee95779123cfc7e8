"""The floors: the longest the monitoring pipeline itself can take to carry a change to each
stage, read from the live configuration, never from defaults we assume: the scrape interval of
the jobs the alert's rule reads, its group's evaluation interval. Where the configuration cannot
be read (managed Prometheus services), the intervals the service file declares, said as such.

    detected (pending):  scrape interval + evaluation interval
    fired:               ... + the rule's ``for``
    paged:               ... + Alertmanager's ``group_wait``

A floor bounds the *worst case*: a target below it cannot be met every time, so it is refused.
A single run can beat it when the change lands just before a scrape and an evaluation. The only
hard lower bound is ``for``: an alert fires at least ``for`` after it went pending.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlchaos.access import Access
from mlchaos.errors import AccessRefused, InputError, ObservationError
from mlchaos.observe.adapters import Metrics
from mlchaos.observe.alertmanager import paging_group_wait
from mlchaos.schema.service import Pipeline
from mlchaos.vocabulary import Span

__all__ = ["Floor", "measure", "refuse_below"]


@dataclass(frozen=True)
class Floor:
    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: float
    group_wait_s: float
    source: str = "read"
    """``read`` from the live configuration, or ``declared`` in the service file (wholly or,
    as ``read, group_wait declared``, in part)."""

    @property
    def total_s(self) -> float:
        """The floor of paging, the last stage."""
        return self.scrape_interval_s + self.evaluation_interval_s + self.for_s + self.group_wait_s

    def of(self, duration: str) -> float | None:
        """The floor of ``mttd``, ``time_to_fire`` or ``time_to_page``; None for the others."""
        stages: dict[str, tuple[float, ...]] = {
            Span.MTTD: (self.scrape_interval_s, self.evaluation_interval_s),
            Span.TIME_TO_FIRE: (self.scrape_interval_s, self.evaluation_interval_s, self.for_s),
            Span.TIME_TO_PAGE: (self.scrape_interval_s, self.evaluation_interval_s, self.for_s,
                                self.group_wait_s),
        }  # fmt: skip
        return sum(stages[duration]) if duration in stages else None

    def explain(self, duration: str = Span.TIME_TO_PAGE) -> str:
        parts = [
            f"scrape {self.scrape_interval_s:g}s",
            f"evaluation {self.evaluation_interval_s:g}s",
        ]
        if duration != Span.MTTD:
            parts.append(f"for {self.for_s:g}s")
        if duration == Span.TIME_TO_PAGE:
            parts.append(f"group_wait {self.group_wait_s:g}s")
        said = "" if self.source == "read" else f" ({self.source} in the service file)"
        return f"{self.of(duration):g}s = " + " + ".join(parts) + said

    def as_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "total_s": self.total_s}

    def floors(self) -> dict[str, float]:
        """Each floor by the duration it bounds."""
        bounded = (Span.MTTD, Span.TIME_TO_FIRE, Span.TIME_TO_PAGE)
        return {d: float(self.of(d) or 0) for d in bounded}


def measure(
    prometheus: Metrics,
    alertmanager_url: str,
    alert: str | None,
    access: Access | None = None,
    declared: Pipeline | None = None,
) -> Floor:
    """Read the floor for ``alert`` from the running Prometheus and Alertmanager; what cannot
    be read comes from ``declared``, and without it the floor cannot be known
    (`ObservationError`, naming the fix).

    An alert no rule defines contributes a ``for`` of 0; detection of it will be reported missed.
    """
    said: list[str] = []
    try:
        scrape, evaluation = prometheus.intervals(alert)
    except AccessRefused:
        raise
    except ObservationError as exc:
        if declared is None:
            raise ObservationError(
                f"{exc}; if this Prometheus does not serve its configuration, declare "
                "pipeline.scrape_interval and pipeline.evaluation_interval in the service file"
            ) from exc
        scrape, evaluation = declared.scrape_interval, declared.evaluation_interval
        said.append("intervals")
    try:
        group_wait = paging_group_wait(alertmanager_url, access)
    except AccessRefused:
        raise
    except ObservationError:
        if declared is None or declared.group_wait is None:
            raise
        group_wait = declared.group_wait
        said.append("group_wait")
    return Floor(
        scrape_interval_s=scrape,
        evaluation_interval_s=evaluation,
        for_s=prometheus.alert_rules().get(alert, 0.0) if alert else 0.0,
        group_wait_s=group_wait,
        source=" and ".join(said) + " declared" if said else "read",
    )


def refuse_below(
    floor: Floor, experiment_name: str, target_s: float, paging_s: float | None = None
) -> None:
    """Raise `InputError` if the detection or paging target cannot be met every time by the
    pipeline's own timing."""
    for field, duration, target in (
        ("detection", Span.MTTD, target_s),
        ("paging", Span.TIME_TO_PAGE, paging_s),
    ):
        if target is not None and target < (floor.of(duration) or 0):
            raise InputError(
                f"{experiment_name}: expect.{field}.within {target:g}s is below the physical "
                f"floor {floor.explain(duration)}; raise the target or shorten those intervals"
            )
