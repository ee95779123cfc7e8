"""The state of staging before a game day and before each experiment: what it should be, what
it is, and putting it back.

A game day measures the service as it is. If an earlier run's rollback left production on
another version, every experiment would measure that version; if an alert is already pending
or firing, its pages are not this game day's doing. Both are said before the first fault:

- ``problems`` (production not on the version the service expects) keep the game day from
  passing: its figures describe the wrong service;
- ``inherited`` alerts are noted, and their pages are not counted as false alarms.

Between experiments the team's own mitigations stay in place (a rollback moved the alias on, the
fallback answers): that is what they are for. So before each experiment `restore_baseline`
reads what is served and, when it is not the declared version, puts it back through the
registry's adapter (and the team's deploy step), and the experiment's result says so.

    >>> baseline = take_baseline(service)
    >>> baseline.problems
    ['production of credit-risk is v1, not v2 as the service expects: ...']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.hooks import run_hook
from mlchaos.observe import adapters
from mlchaos.service import Service
from mlchaos.vocabulary import INJECTOR

__all__ = [
    "RESTORE_S",
    "SERVED_WINDOW_S",
    "Baseline",
    "restore_baseline",
    "served_versions",
    "take_baseline",
]


@dataclass
class Baseline:
    problems: list[str] = field(default_factory=list)
    inherited: dict[str, str] = field(default_factory=dict)
    """Alerts on the model already active at the start: name -> what they were."""
    production: str | None = None
    """The version production was on at the start (the registry's word), when it was read."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "inherited_alerts": self.inherited,
            "production": self.production,
        }


def take_baseline(service: Service) -> Baseline:
    """Read the registry and Prometheus; a source that cannot be read is a problem too."""
    baseline = Baseline()
    baseline.problems += _production(service, baseline)
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


def _production(service: Service, baseline: Baseline) -> list[str]:
    if service.registry_url is None:
        return []
    try:
        production = str(adapters.registry(service).model(service.model)["production"])
    except MlchaosError as exc:
        return [f"could not read production of {service.model} from the registry: {exc}"]
    baseline.production = production
    expected = service.expected_production
    if expected is None or production == expected:
        return []
    return [
        f"production of {service.model} is {production}, not {expected} as the service expects "
        f"(an earlier rollback left it there?); put it back with "
        f"`mlchaos registry --service FILE promote {expected}` and run again"
    ]


SERVED_WINDOW_S = 2.0
"""What serves now: the versions that answered in the last seconds (after a revert's deploy, an
older version may still answer the requests it had)."""
RESTORE_S = 30.0
"""How long a restored version has to start answering (a deploy step may reload the model)."""


def served_versions(service: Service, window_s: float = SERVED_WINDOW_S) -> set[str]:
    """The versions that answered at the gateway in the last ``window_s`` seconds."""
    since = time.time() - window_s
    return {v for s, v, _ in adapters.traffic(service).versions(since) if s >= int(since)}


def restore_baseline(
    service: Service, expected: str | None, say: Callable[[str], None] = lambda _: None,
    after: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Before an experiment: read what is served and, when it is not ``expected`` alone, put
    ``expected`` back (the registry's adapter, then the team's deploy step) and wait until it
    answers. Returns what the experiment's result says of its start: ``expected``, what
    ``served``, whether it was ``restored``, and a ``problem`` when it ran on something else.

    ``after``: when the last experiment's revert ended (epoch seconds). Only answers given
    after it say what serves now: the next experiment may start within a second of a revert,
    and the answers just before it are the last experiment's."""
    record: dict[str, Any] = {"expected": expected, "served": [], "restored": False}
    if after is not None:
        time.sleep(max(0.0, after + SERVED_WINDOW_S + 1 - time.time()))
    try:
        served = served_versions(service)
    except MlchaosError as exc:
        record["problem"] = f"could not read what the gateway served: {exc}"
        return record
    record["served"] = sorted(served)
    production = _production_now(service)
    if expected is None or (served <= {expected} and production in (None, expected)):
        return record
    found = ", ".join(sorted(served)) or "nothing"
    say(f"baseline: {found} served, not {expected}: restoring {expected}")
    try:
        changed = _restore(service, expected)
        _wait_served(service, expected)
    except MlchaosError as exc:
        record["problem"] = (
            f"it ran on {found}, not the declared {expected}, which could not be restored: {exc}"
        )
        return record
    record["restored"] = True
    record["changes"] = changed
    say(f"baseline: {expected} serves again")
    return record


def _production_now(service: Service) -> str | None:
    if service.registry_url is None:
        return None
    try:
        return str(adapters.registry(service).model(service.model)["production"])
    except MlchaosError:
        return None


def _restore(service: Service, version: str) -> list[str]:
    if service.registry_url is None:
        raise TargetError("the service file names no registry to restore it through")
    reason = "game day: restore the baseline before the next experiment"
    entries = adapters.registry(service).restore(service.model, version, INJECTOR, reason)
    if service.deploy_hook is not None:
        run_hook(service.deploy_hook, "the deploy step", service.hook_dir)
    return [f"{e.get('action')}: {e.get('from_version')} -> {e.get('to_version')}" for e in entries]


def _wait_served(service: Service, version: str) -> None:
    deadline = time.monotonic() + RESTORE_S
    while time.monotonic() < deadline:
        if served_versions(service, 2.0) == {version}:
            return
        time.sleep(0.25)
    seen = ", ".join(sorted(served_versions(service, 2.0))) or "nothing"
    raise TargetError(f"{seen} still answered {RESTORE_S:g}s after the restore")
