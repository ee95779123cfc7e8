"""Recovery is read from real Prometheus samples; no data is never taken for health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlchaos.errors import ObservationError
from mlchaos.observe.prometheus import Prometheus
from mlchaos.observe.slo import recovered_at
from mlchaos.reference.config import StackConfig
from mlchaos.schema import Slo

pytestmark = pytest.mark.integration


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(seconds=20), now


def test_an_slo_without_samples_is_an_observation_error(stack: StackConfig) -> None:
    prometheus = Prometheus(stack.url("prometheus"))
    holds = Slo(name="holds", query="vector(0)", below=1)
    empty = Slo(name="empty", query="mlchaos_no_such_metric", below=1)
    with pytest.raises(ObservationError, match="SLO empty returned no samples"):
        recovered_at(prometheus, (holds, empty), *window(), step_s=1, stable_for_s=3)


def test_an_slo_that_never_broke_reports_no_breach(stack: StackConfig) -> None:
    prometheus = Prometheus(stack.url("prometheus"))
    holds = Slo(name="holds", query="vector(0)", below=1)
    assert recovered_at(prometheus, (holds,), *window(), step_s=1, stable_for_s=3) == (None, False)


def test_a_breach_that_persists_is_not_a_recovery(stack: StackConfig) -> None:
    prometheus = Prometheus(stack.url("prometheus"))
    broken = Slo(name="broken", query="vector(5)", below=1)
    assert recovered_at(prometheus, (broken,), *window(), step_s=1, stable_for_s=3) == (None, True)
