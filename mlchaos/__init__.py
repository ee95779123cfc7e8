"""mlchaos: chaos game days for ML services.

Inject a model fault into staging, then measure whether detection, paging, acknowledgement,
mitigation and recovery met their targets, from the times their own systems recorded.

    >>> from mlchaos import load_experiment, run_experiment, Service
    >>> result = run_experiment(load_experiment("experiments/bad-version.yaml"), service, run_dir)
    >>> result.verdict
    'pass'

Importing mlchaos connects to nothing, patches nothing and reads no environment.
"""

from mlchaos.ctk import discover
from mlchaos.engine.gameday import GamedayResult, run_gameday
from mlchaos.engine.run import run_experiment
from mlchaos.engine.verdict import ExperimentResult
from mlchaos.errors import (
    InputError,
    MlchaosError,
    ObservationError,
    StackError,
    TargetError,
    ValidationFailed,
)
from mlchaos.loader import load_experiment, load_scenario
from mlchaos.schema import Experiment, Scenario
from mlchaos.service import Service

__all__ = [
    "Experiment",
    "ExperimentResult",
    "GamedayResult",
    "InputError",
    "MlchaosError",
    "ObservationError",
    "Scenario",
    "Service",
    "StackError",
    "TargetError",
    "ValidationFailed",
    "discover",
    "load_experiment",
    "load_scenario",
    "run_experiment",
    "run_gameday",
]
