"""Run one experiment through chaoslib and judge it from its journal.

>>> result = run_experiment(experiment, service, Path("reports/run-1"))
"""

from __future__ import annotations

import logging
from pathlib import Path

from mlchaos.engine.compile import compile_experiment
from mlchaos.engine.floor import Floor, measure, refuse_below
from mlchaos.engine.journal import Journal
from mlchaos.engine.verdict import ExperimentResult, judge
from mlchaos.errors import ObservationError
from mlchaos.faults.leases import open_leases, revert_all
from mlchaos.observe.prometheus import Prometheus
from mlchaos.schema import Experiment
from mlchaos.service import Service

ROLLBACKS_ALWAYS = {"runtime": {"rollbacks": {"strategy": "always"}}}
progress = logging.getLogger("mlchaos.progress")


def preflight(experiment: Experiment, service: Service) -> Floor:
    """Measure the floor from the live configs; refuse a detection target below it.

    Raises `ObservationError` when Prometheus or Alertmanager cannot be read, and `InputError`
    when the target is below the floor.
    """
    floor = measure(
        Prometheus(service.prometheus_url),
        service.alertmanager_url,
        experiment.expect.detection.alert,
    )
    refuse_below(floor, experiment.name, experiment.expect.detection.within)
    return floor


def run_experiment(
    experiment: Experiment, service: Service, run_dir: Path, floor: Floor | None = None
) -> ExperimentResult:
    """Inject, observe and revert; the verdict comes from what the journal recorded.

    Must run on the main thread: chaoslib installs signal handlers so that Ctrl-C and SIGTERM
    still play the rollbacks.
    """
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.experiment import run_experiment as chaos_run
    from chaoslib.types import Strategy

    journal = Journal(run_dir / "journals" / f"{experiment.name}.jsonl")
    journal.write(
        "run_started",
        experiment=experiment.name,
        fault=experiment.fault.type,
        targets=experiment.expect.targets(),
    )
    if floor is None:
        try:
            floor = preflight(experiment, service)
        except ObservationError as exc:
            journal.write("preflight_failed", reason=f"cannot read the monitoring: {exc}")
            return judge(experiment, journal.read(), None)
    journal.write("floor", **floor.as_dict())
    document = compile_experiment(experiment, service, journal.path)
    ensure_experiment_is_valid(document)
    try:
        # Without a recovery target the steady state is not expected back before the revert,
        # so it is checked before the method only.
        strategy = Strategy.DEFAULT if experiment.expect.recovery else Strategy.BEFORE_METHOD
        chaos_journal = chaos_run(document, settings=ROLLBACKS_ALWAYS, strategy=strategy)
        status = chaos_journal.get("status")
        journal.write("run_finished", chaoslib_status=status)
    finally:
        _revert_leftovers(journal)
    return judge(experiment, journal.read(), floor)


def _revert_leftovers(journal: Journal) -> None:
    """A second line of defence: chaoslib skips the remaining rollbacks on a second signal."""
    if open_leases(journal):
        progress.warning("reverting a fault the rollbacks left behind")
        revert_all(journal)
