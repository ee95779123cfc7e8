"""What a canary experiment must say, and what only a canary may."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlchaos.schema import Experiment

STEADY = [{"name": "errors", "query": "e", "below": 0.01}]


def experiment(fault: dict[str, Any], expect: dict[str, Any]) -> Experiment:
    return Experiment.model_validate({"name": "c", "steady_state": STEADY, "fault": fault,
                                      "expect": {"no_recovery": "a canary", **expect}})  # fmt: skip


BAD = {"type": "bad_version", "version": "3", "rollout": "canary"}
GOOD = {"type": "good_version", "version": "1"}


@pytest.mark.parametrize(
    ("fault", "expect", "message"),
    [
        (BAD, {"promotion": {"within": "1m"}}, "a canary of a bad version expects 'abort'"),
        (GOOD, {"abort": {"within": "1m"}}, "a good_version control expects 'promotion'"),
        (
            {"type": "bad_version", "version": "3"},
            {"abort": {"within": "1m"}, "detection": {"alert": "A", "within": "5s"}},
            "only of a canary",
        ),
        (BAD, {"abort": {"within": "1m"}, "promotion": {"within": "1m"}}, "not both"),
        (BAD, {"abort": {"within": "1m"}, "paging": {"within": "9s"}}, "give 'detection'"),
    ],
)
def test_a_canary_expects_its_own_outcome_and_nothing_else_does(
    fault: dict[str, Any], expect: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        experiment(fault, expect)


def test_a_canary_waits_past_its_target_for_the_quiet_that_shows_an_abort() -> None:
    bad = experiment(BAD, {"abort": {"within": "40s", "max_share": "20%"}})
    assert bad.expect.alert == "" and bad.expect.targets() == {"time_to_abort": 40.0}
    assert bad.waits_s()["aborted"] == 40 + 5 + 20
    good = experiment(GOOD, {"promotion": {"within": "2m"}})
    assert good.waits_s()["promoted"] == 120 + 5 + 1
