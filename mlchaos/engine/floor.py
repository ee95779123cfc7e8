"""The physical floor: no detection can be reliably faster than the monitoring pipeline itself.

floor = scrape interval + evaluation interval + the rule's ``for`` + Alertmanager ``group_wait``,
each read from the live configuration, never from defaults we assume.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlchaos.errors import InputError
from mlchaos.observe.alertmanager import paging_group_wait
from mlchaos.observe.prometheus import Prometheus


@dataclass(frozen=True)
class Floor:
    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: float
    group_wait_s: float

    @property
    def total_s(self) -> float:
        return self.scrape_interval_s + self.evaluation_interval_s + self.for_s + self.group_wait_s

    def explain(self) -> str:
        return (
            f"{self.total_s:g}s = scrape {self.scrape_interval_s:g}s + evaluation "
            f"{self.evaluation_interval_s:g}s + for {self.for_s:g}s + group_wait "
            f"{self.group_wait_s:g}s"
        )

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total_s": self.total_s}


def measure(prometheus: Prometheus, alertmanager_url: str, alert: str) -> Floor:
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


def refuse_below(floor: Floor, experiment_name: str, target_s: float) -> None:
    """Raise `InputError` if the detection target cannot be met by the pipeline's own timing."""
    if target_s < floor.total_s:
        raise InputError(
            f"{experiment_name}: expect.detection.within {target_s:g}s is below the physical "
            f"floor {floor.explain()}; raise the target or shorten those intervals"
        )
