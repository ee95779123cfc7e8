"""The fairness gap of `mlchaos.observe.fairness`, on what Prometheus would answer: the queries
themselves run against a real Prometheus in the nightly game day (tests/e2e/test_gameday.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlchaos.errors import ObservationError
from mlchaos.observe.fairness import gap

SCORE = "sum by (segment) (rate(approved[5s])) / sum by (segment) (rate(scored[5s]))"
START = datetime(2026, 12, 6, tzinfo=UTC)
END = START + timedelta(seconds=40)


class Answers:
    """Prometheus answering by the shape of each query, and the instant asked."""

    def __init__(self, segments: int, before: float, peak: float, end: float) -> None:
        self.segments, self.before, self.peak, self.end = segments, before, peak, end
        self.queries: list[str] = []

    def range_values(self, query: str, start: datetime, *_: Any) -> dict[float, list[float]]:
        self.queries.append(query)
        if query.startswith(f"max_over_time(count({SCORE})"):
            return {0.0: [float(self.segments)]} if self.segments else {}
        if query.startswith("max_over_time((max("):
            return {0.0: [self.peak]}
        assert query == f"(max({SCORE}) - min({SCORE}))", query
        return {0.0: [self.before if start == START else self.end]}


def test_the_gap_is_read_before_at_its_peak_and_at_the_revert() -> None:
    found = gap(Answers(2, 0.01, 0.42, 0.03), SCORE, START, END)  # type: ignore[arg-type]
    assert (found["segments"], found["before"], found["peak"], found["end"]) == (2, 0.01, 0.42,
                                                                                 0.03)  # fmt: skip
    assert "reason" not in found and SCORE in found["source"]


def test_the_peak_is_a_sample_a_second_over_the_whole_window() -> None:
    answers = Answers(3, 0.0, 0.2, 0.0)
    gap(answers, SCORE, START, END)  # type: ignore[arg-type]
    assert any(q.endswith("[40s:1s])") and "(max(" in q for q in answers.queries), answers.queries


def test_one_segment_is_no_gap_at_all() -> None:
    found = gap(Answers(1, 0.0, 0.0, 0.0), SCORE, START, END)  # type: ignore[arg-type]
    assert found["peak"] is None and found["before"] is None and found["end"] is None
    assert "gave 1 segment(s) over the window, and a gap needs two" in found["reason"]
    found = gap(Answers(0, 0.0, 0.0, 0.0), SCORE, START, END)  # type: ignore[arg-type]
    assert found["segments"] == 0 and found["peak"] is None


def test_an_unreadable_prometheus_says_so() -> None:
    class Down:
        def range_values(self, *_: Any) -> dict[float, list[float]]:
            raise ObservationError("connection refused")

    found = gap(Down(), SCORE, START, END)  # type: ignore[arg-type]
    assert found == {"reason": "Prometheus could not be read: connection refused"}
