"""Broken builds of the champion: the wrapper answers as the champion does, slower or constant
or not at all, and which variants a fault builds, and where."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlchaos.faults.bad_version import builds
from mlchaos.faults.builds import build
from mlchaos.loader import load_service
from mlchaos.schema.experiment import BadVersionFault
from mlchaos.schema.service import Adapters
from tests.conftest import ROOT

X = np.array([[0.0], [1.0], [2.0], [3.0]])
CHAMPION = pickle.dumps(LogisticRegression().fit(X, [0, 0, 1, 1]))


def test_a_slow_build_waits_then_answers_as_the_champion() -> None:
    slow = pickle.loads(build(CHAMPION, "slow", 0.05))
    slow.predict(X)  # the champion is unpickled at the first call
    started = time.perf_counter()
    assert list(slow.predict(X)) == [0, 0, 1, 1]
    assert time.perf_counter() - started >= 0.05
    assert slow.predict_proba(X).shape == (4, 2) and list(slow.classes_) == [0, 1]


def test_a_constant_build_answers_one_thing_and_a_crashing_one_raises() -> None:
    constant = pickle.loads(build(CHAMPION, "constant"))
    assert list(constant.predict(X)) == [0, 0, 0, 0]
    assert not constant.predict_proba(X).any()
    crashing = pickle.loads(build(CHAMPION, "crashing"))
    with pytest.raises(RuntimeError, match="mlchaos broken build"):
        crashing.predict(X)


def fault(**given: object) -> BadVersionFault:
    return BadVersionFault.model_validate({"type": "bad_version", **given})


def test_only_a_variant_mlflow_has_no_version_of_is_built() -> None:
    service = load_service(ROOT / "tests" / "fixtures" / "misfit" / "service.yaml")
    mlflow = service.model_copy(update={
        "adapters": Adapters(registry="mlflow"), "registry_url": "http://127.0.0.1:9"})
    assert builds(fault(variant="slow", delay="1s"), mlflow)
    assert not builds(fault(variant="constant"), mlflow)  # versions.bad names a build of it
    assert not builds(fault(variant="crashing"), mlflow)  # its errors name no version
    assert not builds(fault(version="3"), mlflow)
    assert not builds(fault(variant="slow", rollout="canary"), mlflow)
    reference = mlflow.model_copy(update={"adapters": Adapters(registry="mlchaos")})
    assert not builds(fault(variant="slow"), reference)
