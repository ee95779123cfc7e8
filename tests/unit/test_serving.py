"""The gateway's own count of 2xx answers decides whether the service serves."""

from __future__ import annotations

import pytest

from mlchaos.gateway.server import Outcomes
from mlchaos.observe import serving
from mlchaos.observe.serving import back_since, share


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_outcomes_count_answers_and_successes_per_second() -> None:
    clock = Clock(1000.2)
    outcomes = Outcomes(clock)
    for status in (200, 400, 404, 200):
        outcomes.count(status)
    clock.now = 1001.7
    outcomes.count(503)
    assert outcomes.since(1000) == [[1000, 4, 2], [1001, 1, 0]]
    assert outcomes.since(1001) == [[1001, 1, 0]]


def test_outcomes_forget_what_is_older_than_they_keep() -> None:
    clock = Clock(0.0)
    outcomes = Outcomes(clock)
    outcomes.count(200)
    clock.now = Outcomes.KEEP_S + 5.0
    outcomes.count(200)
    assert outcomes.since(0) == [[Outcomes.KEEP_S + 5, 1, 1]]


def test_share_of_nothing_is_unknown_not_perfect() -> None:
    assert share([]) == (0, None)
    assert share([(1, 1325, 0)]) == (1325, 0.0)


def test_serving_is_back_after_the_last_failing_second() -> None:
    seconds = [(10, 50, 50), (11, 50, 0), (12, 50, 10), (13, 0, 0), (14, 50, 49), (15, 50, 50)]
    assert back_since(seconds, 10, 16, 0.9) == 13.0


def test_serving_that_never_broke_counts_from_the_start() -> None:
    assert back_since([(10, 5, 5), (11, 5, 5)], 10, 12, 0.9) == 10.0


def test_no_answer_since_the_last_failure_is_not_recovery() -> None:
    assert back_since([(10, 50, 0), (11, 0, 0)], 10, 12, 0.9) is None
    assert back_since([], 10, 12, 0.9) is None


def test_recovery_takes_the_later_of_slos_and_serving_and_names_its_source() -> None:
    """Unit stand-ins for Prometheus and the gateway: only the arithmetic is under test here."""
    from datetime import UTC, datetime
    from typing import Any

    from mlchaos.observe.events import recovered
    from mlchaos.schema import Slo

    class Samples:
        def range_values(self, *_: Any) -> dict[float, list[float]]:
            return {100.0: [1.0], 101.0: [0.0], 102.0: [0.0], 103.0: [0.0], 104.0: [0.0]}

    class Answers:
        def __init__(self, rows: list[tuple[int, int, int]]) -> None:
            self.rows = rows

        def outcomes(self, since: float) -> tuple[list[tuple[int, int, int]], float]:
            return self.rows, 106.0

    slo = Slo(name="e", query="q", below=0.5)
    injected = datetime.fromtimestamp(100, UTC)
    late = [(100, 10, 0), (101, 10, 0), (102, 10, 0), (103, 10, 10), (104, 10, 10)]
    seen = recovered(Samples(), (slo,), injected, 1.0, 2.0, Answers(late), 0.9)()  # type: ignore[arg-type]
    assert seen is not None
    assert (seen.time, seen.source) == (
        datetime.fromtimestamp(103, UTC).isoformat(),
        "gateway answers (2xx share back above min_success)",
    )
    early = [(100, 10, 10), (101, 10, 10)]
    seen = recovered(Samples(), (slo,), injected, 1.0, 2.0, Answers(early), 0.9)()  # type: ignore[arg-type]
    assert seen is not None and seen.source == "prometheus SLO samples"


@pytest.mark.parametrize(
    ("ok", "answered", "below"),
    [
        (14 / 16, 16, False),  # the busy runner's 88% of 16: not shown below 90% (CI flake)
        (85 / 100, 100, True),
        (0.0, 300, True),  # a service that rejects everything
        (0.89, 10_000, True),  # plenty of answers: 89% is below 90%
        (1.0, 3, False),
    ],
)
def test_not_serving_must_be_shown_not_guessed_from_a_few_answers(
    ok: float, answered: int, below: bool
) -> None:
    assert serving.shown_below(ok, answered, 0.9) is below


def test_the_slis_worst_while_the_fault_was_in_and_whether_each_held() -> None:
    from mlchaos.observe.sli import while_in

    timeline = {"injected": "2026-12-06T00:00:00+00:00", "reverted": "2026-12-06T00:00:30+00:00"}
    series = {"slis": [
        {"name": "traffic", "condition": "> 1", "threshold": 1, "points": [[0, 40.0]]},
        {"name": "not-found", "condition": "< 0.05", "threshold": 0.05,
         "points": [[-5, 0.0], [3, 1.0], [20, 0.5], [31, 2.0]]},  # the last: after the revert
        {"name": "p99", "condition": "< 0.5", "threshold": 0.5, "points": [[1, 0.04]]},
        {"name": "empty", "condition": "> 0.9", "threshold": 0.9, "points": []},
    ]}  # fmt: skip
    assert while_in(series, timeline) == [
        {"name": "not-found", "condition": "below", "threshold": 0.05, "worst": 1.0,
         "held": False},
        {"name": "p99", "condition": "below", "threshold": 0.5, "worst": 0.04, "held": True},
        {"name": "empty", "condition": "above", "threshold": 0.9, "worst": None, "held": None},
    ]  # fmt: skip
    assert while_in(series, {**timeline, "reverted": None}) == []
