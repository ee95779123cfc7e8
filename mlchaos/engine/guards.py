"""Stop conditions: guards (PromQL, like steady-state objectives) that must hold while a fault
is in. When one breaches, the fault is reverted at once, from here, without waiting for the
method to end; the journal records why and how long the revert took, the waits in progress
end, and the verdict is *stopped*.

A guard that cannot be read (no data, Prometheus unreachable) stops nothing: the run's own
checks already make that inconclusive.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from mlchaos.errors import MlchaosError
from mlchaos.faults.leases import open_leases, revert_all
from mlchaos.journal import Journal, Stopped
from mlchaos.observe import adapters
from mlchaos.schema import Slo
from mlchaos.service import Service

__all__ = ["POLL_S", "watching"]

POLL_S = 0.25
progress = logging.getLogger("mlchaos.progress")


@contextlib.contextmanager
def watching(journal: Journal, service: Service, guards: tuple[Slo, ...]) -> Iterator[None]:
    """Watch ``guards`` from the injection until the fault is reverted, for the block."""
    if not guards:
        yield
        return
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(journal, service, guards, done), name="mlchaos-guards", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=30)


def _watch(
    journal: Journal, service: Service, guards: tuple[Slo, ...], done: threading.Event
) -> None:
    metrics = adapters.metrics(service)
    while not done.wait(POLL_S):
        if journal.event_time("injected") is None:
            continue  # nothing to stop yet
        if not open_leases(journal):
            return  # reverted already
        for guard in guards:
            try:
                breached = [v for v in metrics.values(guard.query) if not guard.holds(v)]
            except MlchaosError:
                continue
            if breached:
                _stop(journal, guard, breached[0])
                return


def _stop(journal: Journal, guard: Slo, value: float) -> None:
    seen = datetime.now(UTC)
    progress.warning("STOP: %s = %.4g, need %s: reverting now", guard.name, value, guard.condition)
    journal.stop_marker.touch()  # the waits in progress end: nothing more is to be observed
    revert_all(journal)
    reverted = datetime.now(UTC)
    journal.write(
        Stopped(
            guard=guard.name, query=guard.query, condition=guard.condition, value=value,
            breached_at=seen.isoformat(), reverted_at=reverted.isoformat(),
            breach_to_revert_s=(reverted - seen).total_seconds(),
        )
    )  # fmt: skip
