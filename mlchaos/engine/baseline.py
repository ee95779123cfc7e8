"""The state of staging before a game day: what it should be, and what it already is.

A game day measures the service as it is. If an earlier run's rollback left production on
another version, every experiment would measure that version; if an alert is already pending
or firing, its pages are not this game day's doing. Both are said before the first fault:

- ``problems`` (production not on the version the service expects) keep the game day from
  passing: its figures describe the wrong service;
- ``inherited`` alerts are noted, and their pages are not counted as false alarms.

    >>> baseline = take_baseline(service)
    >>> baseline.problems
    ['production of credit-risk is v1, not v2 as the service expects: ...']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.observe import adapters
from mlchaos.service import Service

__all__ = ["Baseline", "take_baseline"]


@dataclass
class Baseline:
    problems: list[str] = field(default_factory=list)
    inherited: dict[str, str] = field(default_factory=dict)
    """Alerts on the model already active at the start: name -> what they were."""

    def as_dict(self) -> dict[str, Any]:
        return {"problems": self.problems, "inherited_alerts": self.inherited}


def take_baseline(service: Service) -> Baseline:
    """Read the registry and Prometheus; a source that cannot be read is a problem too."""
    baseline = Baseline()
    baseline.problems += _production(service)
    try:
        alerts = adapters.metrics(service).alerts()
    except MlchaosError as exc:
        baseline.problems.append(f"could not read the alerts before the game day: {exc}")
        return baseline
    for alert in alerts:
        labels = alert.get("labels", {})
        if labels.get("model") in (None, service.model):
            name = str(labels.get("alertname"))
            baseline.inherited[name] = f"{alert.get('state')} since {alert.get('activeAt')}"
    return baseline


def _production(service: Service) -> list[str]:
    expected = service.expected_production
    if expected is None or service.registry_url is None:
        return []
    try:
        production = adapters.registry(service).model(service.model)["production"]
    except MlchaosError as exc:
        return [f"could not read production of {service.model} from the registry: {exc}"]
    if production == expected:
        return []
    return [
        f"production of {service.model} is {production}, not {expected} as the service expects "
        f"(an earlier rollback left it there?); put it back with "
        f"`mlchaos registry promote {expected}` and run again"
    ]
