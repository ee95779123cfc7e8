"""Run one experiment through chaoslib and judge it from its journal.

>>> result = run_experiment(experiment, service, Path("reports/run-1"))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlchaos.engine.compile import compile_experiment
from mlchaos.engine.floor import Floor, measure, refuse_below
from mlchaos.engine.guards import watching
from mlchaos.engine.interrupts import INTERRUPTS, Interrupts, chaoslib_keeps_our_handlers
from mlchaos.engine.verdict import ExperimentResult, judge
from mlchaos.errors import ObservationError
from mlchaos.faults.leases import open_leases, revert_all
from mlchaos.journal import (
    FloorRecord,
    Interrupted,
    Journal,
    PreflightFailed,
    RunFinished,
    RunStarted,
)
from mlchaos.observe import adapters
from mlchaos.rundir import RunDir
from mlchaos.schema import Experiment
from mlchaos.service import Service

__all__ = ["ROLLBACKS_ALWAYS", "Preflight", "check_preflight", "preflight", "run_experiment"]

ROLLBACKS_ALWAYS = {"runtime": {"rollbacks": {"strategy": "always"}}}
progress = logging.getLogger("mlchaos.progress")


def preflight(experiment: Experiment, service: Service) -> Floor:
    """Measure the floor from the live configs; refuse a detection target below it.

    Raises `ObservationError` when Prometheus or Alertmanager cannot be read, and `InputError`
    when the target is below the floor.
    """
    floor = measure(
        adapters.metrics(service),
        service.alertmanager_url,
        experiment.expect.alert or None,
        service.alertmanager_access,
        service.pipeline,
    )
    paging, detection = experiment.expect.paging, experiment.expect.detection
    if detection is not None:  # a canary without an alert has no detection target to refuse
        refuse_below(
            floor, experiment.name, detection.within, paging.within if paging else None
        )
    return floor


@dataclass(frozen=True)
class Preflight:
    """What the preflight found, once per experiment: the floor, or why the monitoring could
    not be read (then nothing is injected, and the verdict is inconclusive)."""

    floor: Floor | None
    unreadable: str | None = None


def check_preflight(experiment: Experiment, service: Service) -> Preflight:
    """`preflight`, with unreadable monitoring as an answer rather than an error (a target
    below the floor still raises `InputError`: that is bad input)."""
    try:
        return Preflight(preflight(experiment, service))
    except ObservationError as exc:
        progress.warning("%s: %s", experiment.name, exc)
        return Preflight(None, f"cannot read the monitoring: {exc}")


def run_experiment(
    experiment: Experiment,
    service: Service,
    run_dir: Path,
    checked: Preflight | None = None,
    interrupts: Interrupts = INTERRUPTS,
    drain: Callable[[], None] = lambda: None,
) -> ExperimentResult:
    """Inject, observe and revert; the verdict comes from what the journal recorded.

    ``drain`` runs after the revert and before the verdict: what the responders started for
    this experiment (their drill) is finished and on record when it is judged.

    Must run on the main thread: a first Ctrl-C or SIGTERM ends the wait in progress and the
    rollbacks still play; later signals cannot cut the revert short (see `interrupts`).
    """
    with interrupts.installed_while():
        return _run(experiment, service, run_dir, checked, interrupts, drain)


def _run(
    experiment: Experiment,
    service: Service,
    run_dir: Path,
    checked: Preflight | None,
    interrupts: Interrupts,
    drain: Callable[[], None],
) -> ExperimentResult:
    started = datetime.now(UTC)
    journal = Journal(RunDir(run_dir).journal(experiment.name))
    journal.write(
        RunStarted(
            experiment=experiment.name,
            fault=experiment.fault.type,
            targets=experiment.expect.targets(),
        )
    )
    checked = checked or check_preflight(experiment, service)
    floor = checked.floor
    if checked.unreadable is not None:
        journal.write(PreflightFailed(reason=checked.unreadable))
    try:
        if floor is not None:
            guards = experiment.stop_when + service.stop_conditions
            with watching(journal, service, guards):
                _chaos_run(experiment, service, journal, floor, interrupts)
    except KeyboardInterrupt:
        pass  # the signal is recorded below, from what the handler saw
    finally:
        with interrupts.deferred():
            _revert_leftovers(journal)
            _record_signal(journal, interrupts, started)
            drain()
    return judge(experiment, journal.read(), floor)


def _chaos_run(
    experiment: Experiment, service: Service, journal: Journal, floor: Floor,
    interrupts: Interrupts,
) -> None:  # fmt: skip
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.experiment import run_experiment as chaos_run
    from chaoslib.types import Strategy

    journal.write(FloorRecord.model_validate(floor.as_dict()))
    document = compile_experiment(experiment, service, journal.path)
    ensure_experiment_is_valid(document)
    # Without a recovery target the steady state is not expected back before the revert,
    # so it is checked before the method only.
    strategy = Strategy.DEFAULT if experiment.expect.recovery else Strategy.BEFORE_METHOD
    with chaoslib_keeps_our_handlers(interrupts.installed):
        chaos_journal = chaos_run(document, settings=ROLLBACKS_ALWAYS, strategy=strategy)
    journal.write(RunFinished(chaoslib_status=chaos_journal.get("status")))


def _record_signal(journal: Journal, interrupts: Interrupts, started: datetime) -> None:
    """The only thing that makes a run "interrupted": a signal that arrived during it."""
    received = interrupts.since(started)
    if received is not None:
        name, at = received
        journal.write(Interrupted(signal=name, at=at.isoformat()))


def _revert_leftovers(journal: Journal) -> None:
    """A second line of defence, for a signal that landed outside chaoslib's rollbacks."""
    if open_leases(journal):
        progress.warning("reverting a fault the rollbacks left behind")
        revert_all(journal)
