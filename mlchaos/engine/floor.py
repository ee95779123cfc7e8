"""The floors: the longest the monitoring pipeline itself can take to carry a change to each
stage, read from the live configuration, never from defaults we assume.

    detected (pending):  scrape interval + evaluation interval
    fired:               ... + the rule's ``for``
    paged:               ... + Alertmanager's ``group_wait``

A floor bounds the *worst case*: a target below it cannot be met every time, so it is refused.
A single run can beat it when the change lands just before a scrape and an evaluation. The only
hard lower bound is ``for``: an alert fires at least ``for`` after it went pending.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlchaos.errors import InputError
from mlchaos.observe.adapters import Metrics
from mlchaos.observe.alertmanager import paging_group_wait

__all__ = ["Floor", "measure", "refuse_below"]


@dataclass(frozen=True)
class Floor:
    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: float
    group_wait_s: float

    @property
    def total_s(self) -> float:
        """The floor of paging, the last stage."""
        return self.scrape_interval_s + self.evaluation_interval_s + self.for_s + self.group_wait_s

    def of(self, duration: str) -> float | None:
        """The floor of ``mttd``, ``time_to_fire`` or ``time_to_page``; None for the others."""
        stages = {
            "mttd": (self.scrape_interval_s, self.evaluation_interval_s),
            "time_to_fire": (self.scrape_interval_s, self.evaluation_interval_s, self.for_s),
            "time_to_page": (self.scrape_interval_s, self.evaluation_interval_s, self.for_s,
                             self.group_wait_s),
        }  # fmt: skip
        return sum(stages[duration]) if duration in stages else None

    def explain(self, duration: str = "time_to_page") -> str:
        parts = [
            f"scrape {self.scrape_interval_s:g}s",
            f"evaluation {self.evaluation_interval_s:g}s",
        ]
        if duration != "mttd":
            parts.append(f"for {self.for_s:g}s")
        if duration == "time_to_page":
            parts.append(f"group_wait {self.group_wait_s:g}s")
        return f"{self.of(duration):g}s = " + " + ".join(parts)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total_s": self.total_s}

    def floors(self) -> dict[str, float]:
        """Each floor by the duration it bounds."""
        return {d: float(self.of(d) or 0) for d in ("mttd", "time_to_fire", "time_to_page")}


def measure(prometheus: Metrics, alertmanager_url: str, alert: str) -> Floor:
    """Read the floor for ``alert`` from the running Prometheus and Alertmanager.

    An alert no rule defines contributes a ``for`` of 0; detection of it will be reported missed.
    """
    scrape, evaluation = prometheus.intervals()
    return Floor(
        scrape_interval_s=scrape,
        evaluation_interval_s=evaluation,
        for_s=prometheus.alert_rules().get(alert, 0.0),
        group_wait_s=paging_group_wait(alertmanager_url),
    )


def refuse_below(
    floor: Floor, experiment_name: str, target_s: float, paging_s: float | None = None
) -> None:
    """Raise `InputError` if the detection or paging target cannot be met every time by the
    pipeline's own timing."""
    for field, duration, target in (
        ("detection", "mttd", target_s),
        ("paging", "time_to_page", paging_s),
    ):
        if target is not None and target < (floor.of(duration) or 0):
            raise InputError(
                f"{experiment_name}: expect.{field}.within {target:g}s is below the physical "
                f"floor {floor.explain(duration)}; raise the target or shorten those intervals"
            )
