"""The one confirm-and-poll loop: a fault counts as live only once its effect is observed."""

from __future__ import annotations

import time
from collections.abc import Callable

from mlchaos.journal import FaultActive, Journal

__all__ = ["poll"]


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
