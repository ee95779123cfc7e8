"""The one confirm-and-poll loop: a fault counts as live only once its effect is observed; and
when a promoted version starts: its first answer, as the gateway saw it."""

from __future__ import annotations

import time
from collections.abc import Callable

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.journal import FaultActive, Journal
from mlchaos.observe import adapters
from mlchaos.service import Service

__all__ = ["FIRST_ANSWER_S", "first_answer", "poll"]

FIRST_ANSWER_S = 15.0
"""How long a promoted version has to answer once it is in place (a server reloading it)."""


def poll(
    journal: Journal,
    look: Callable[[], str | None],
    timeout_s: float,
    missing: Callable[[], str],
    interval_s: float = 0.05,
) -> bool:
    """Call ``look`` until it returns evidence that the fault is live, for at most
    ``timeout_s``; record ``fault_active`` with the evidence, or with ``missing()`` if none."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        evidence = look()
        if evidence is not None:
            journal.write(FaultActive(active=True, evidence=evidence))
            return True
        time.sleep(interval_s)
    journal.write(FaultActive(active=False, evidence=missing()))
    return False


def first_answer(
    service: Service, version: str, since: float, timeout_s: float = FIRST_ANSWER_S
) -> float:
    """When (epoch seconds) ``version`` first answered a client at the gateway, at or after
    ``since``: a bad version's fault starts there, not when a registry or a deploy step said
    so. `TargetError` when it does not answer within ``timeout_s``."""
    gateway = adapters.traffic(service)
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            found = gateway.first_answer(version, since)
        except MlchaosError as exc:
            found, last = None, f": {exc}"
        if found is not None:
            return found
        time.sleep(0.1)
    raise TargetError(
        f"version {version} did not answer at the gateway within {timeout_s:g}s of taking its "
        f"place (is traffic flowing through the gateway, and does the server load it?){last}"
    )
