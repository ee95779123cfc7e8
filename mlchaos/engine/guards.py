"""Stop conditions: guards (PromQL, like steady-state objectives) that must hold while a fault
is in. When one breaches, the fault is reverted at once, from here, without waiting for the
method to end; the journal records why and how long the revert took, the waits in progress
end, and the verdict is *stopped*.

A guard that cannot be read stops the fault too, fail-safe, as Argo Rollouts treats an analysis
that keeps erroring: after `ERROR_LIMIT` reads in a row that failed or found no series, the
fault is reverted and the verdict is *stopped*, saying which guard could not be read and why. A
safety rail nobody can read guards nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from mlchaos.errors import MlchaosError
from mlchaos.faults.leases import open_leases, revert_all
from mlchaos.journal import Journal, Stopped
from mlchaos.observe import adapters
from mlchaos.schema import Slo
from mlchaos.service import Service

__all__ = ["ERROR_LIMIT", "POLL_S", "watching"]

POLL_S = 0.25
ERROR_LIMIT = 4
"""Reads in a row a guard may fail before it stops the fault: 1 s at `POLL_S` (Argo Rollouts'
``consecutiveErrorLimit`` defaults to 4 too), so one slow scrape or a Prometheus restart's
blink does not end an experiment, and a guard that stays unreadable does."""
progress = logging.getLogger("mlchaos.progress")


@contextlib.contextmanager
def watching(
    journal: Journal,
    service: Service,
    guards: tuple[Slo, ...],
    metrics: adapters.Metrics | None = None,
    revert: Callable[[Journal], object] = revert_all,
    poll_s: float = POLL_S,
) -> Iterator[None]:
    """Watch ``guards`` from the injection until the fault is reverted, for the block
    (``metrics``: where they are read, default the service's Prometheus; ``revert``: how a
    stop ends the fault)."""
    if not guards:
        yield
        return
    done = threading.Event()
    source = metrics or adapters.metrics(service)
    watcher = threading.Thread(
        target=_watch, args=(journal, source, guards, done, revert, poll_s), name="mlchaos-guards",
        daemon=True,
    )  # fmt: skip
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=30)


def _watch(
    journal: Journal,
    metrics: adapters.Metrics,
    guards: tuple[Slo, ...],
    done: threading.Event,
    revert: Callable[[Journal], object],
    poll_s: float,
) -> None:
    errors = dict.fromkeys((g.name for g in guards), 0)
    while not done.wait(poll_s):
        if journal.event_time("injected") is None:
            continue  # nothing to stop yet
        if not open_leases(journal):
            return  # reverted already
        for guard in guards:
            values, unread = _read(metrics, guard)
            if unread is not None:
                errors[guard.name] += 1
                if errors[guard.name] >= ERROR_LIMIT:
                    why = f"{unread} ({ERROR_LIMIT} reads in a row)"
                    _stop(journal, revert, guard, None, why)
                    return
                continue
            errors[guard.name] = 0
            breached = [v for v in values if not guard.holds(v)]
            if breached:
                _stop(journal, revert, guard, breached[0])
                return


def _read(metrics: adapters.Metrics, guard: Slo) -> tuple[list[float], str | None]:
    """The guard's values, or why they could not be read (no series is no reading)."""
    try:
        values = metrics.values(guard.query)
    except MlchaosError as exc:
        return [], str(exc)
    if not values:
        return [], f"its query returned no series: {guard.query}"
    return values, None


def _stop(
    journal: Journal,
    revert: Callable[[Journal], object],
    guard: Slo,
    value: float | None,
    unread: str | None = None,
) -> None:
    seen = datetime.now(UTC)
    if value is None:
        progress.warning("STOP: %s cannot be read (%s): reverting now", guard.name, unread)
    else:
        progress.warning(
            "STOP: %s = %.4g, need %s: reverting now", guard.name, value, guard.condition
        )
    journal.stop_marker.touch()  # the waits in progress end: nothing more is to be observed
    revert(journal)
    reverted = datetime.now(UTC)
    journal.write(
        Stopped(
            guard=guard.name, query=guard.query, condition=guard.condition, value=value,
            reason=unread, breached_at=seen.isoformat(), reverted_at=reverted.isoformat(),
            breach_to_revert_s=(reverted - seen).total_seconds(),
        )
    )  # fmt: skip
