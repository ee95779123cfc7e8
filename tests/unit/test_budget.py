"""The budget arithmetic of `mlchaos.observe.budget`, on what Prometheus would answer: the
queries themselves run against a real Prometheus in the example's game day (tests/e2e)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlchaos.errors import ObservationError
from mlchaos.observe.budget import spent
from mlchaos.schema.slo import SloSpec

SLO = SloSpec.model_validate({
    "name": "declines", "objective": "95%", "period": "30d",
    "sli": {"errors": "sum(rate(bad[{{window}}]))", "total": "sum(rate(all[{{window}}]))"},
    "alerting": {"profile": "workbook", "time_scale": 0.01},
})  # fmt: skip
START = datetime(2026, 12, 6, tzinfo=UTC)
END = START + timedelta(seconds=60)


class Answers:
    """Prometheus answering by the shape of each query."""

    def __init__(self, ratio: float | None, peak: float, should: set[str], fired: set[str]):
        self.ratio, self.peak, self.should, self.fired = ratio, peak, should, fired
        self.queries: list[str] = []

    def range_values(self, query: str, *_: Any) -> dict[float, list[float]]:
        self.queries.append(query)
        if query.startswith("max_over_time(ALERTS"):
            hit = any(f'alertname="{a}"' in query for a in self.fired)
        elif " and " in query:  # a tier's two windows: 36s is the page tier's long one
            hit = any(w in query for w in self.should)
        elif query.startswith("max_over_time("):
            return {0.0: [self.peak]}
        else:
            return {0.0: [self.ratio]} if self.ratio is not None else {}
        return {0.0: [1.0]} if hit else {}


def test_consumed_is_burn_times_window_over_the_scaled_period() -> None:
    answers = Answers(ratio=0.02, peak=0.3, should=set(), fired=set())
    found = spent(answers, SLO, START, END, END)  # type: ignore[arg-type]
    assert abs(found["burn_rate"] - 0.4) < 1e-12
    assert found["period_s"] == 30 * 86400 * 0.01 and found["window_s"] == 60
    assert abs(found["consumed"] - 0.4 * 60 / 25920) < 1e-12
    assert abs(found["peak_burn"] - 6.0) < 1e-9 and found["peak_window_s"] == 3.0
    assert [t["tier"] for t in found["tiers"]] == ["page", "page-slow", "ticket"]
    assert not any(t["fired"] or t["should_fire"] for t in found["tiers"])
    assert "[1m]" in answers.queries[0] and "[3s]" in answers.queries[1]


def test_a_tier_that_fired_and_one_that_should_have_are_told_apart() -> None:
    answers = Answers(0.5, 0.9, should={"[36s]"}, fired={"DeclinesBurnRatePageSlow"})
    found = spent(answers, SLO, START, END, END)  # type: ignore[arg-type]
    tiers = {t["tier"]: t for t in found["tiers"]}
    assert (tiers["page"]["should_fire"], tiers["page"]["fired"]) == (True, False)
    assert (tiers["page-slow"]["should_fire"], tiers["page-slow"]["fired"]) == (False, True)
    assert tiers["page"]["alert"] == "DeclinesBurnRatePage"


def test_no_data_and_an_unreadable_prometheus_say_why_rather_than_a_zero() -> None:
    empty = spent(Answers(None, 0.0, set(), set()), SLO, START, END, END)  # type: ignore[arg-type]
    assert "consumed" not in empty and empty["reason"].startswith("no data")

    class Down:
        def range_values(self, *_: Any) -> dict[float, list[float]]:
            raise ObservationError("refused")

    down = spent(Down(), SLO, START, END, END)  # type: ignore[arg-type]
    assert down["reason"] == "Prometheus could not be read: refused"
