"""Poisoned retrains: a snapshot poisoned exactly as asked (the chosen rows, seeded, nothing
else), and a verdict that passes only on every poisoned version rejected in time and never
served, and never on a watch that saw nothing to judge."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlchaos.engine import verdict
from mlchaos.errors import TargetError
from mlchaos.faults.targets.training import poison
from mlchaos.journal import parse_record
from mlchaos.report.table import summary_table
from mlchaos.schema import Experiment
from mlchaos.schema.experiment import PoisonedDataFault
from tests.unit.test_verdict import FLOOR, HEALTHY_BEFORE, event

SNAPSHOT = "channel,amount,is_fraud\r\n" + "".join(
    f"{i % 3}.0,{i}.5,{1 if i % 5 == 0 else 0}\r\n" for i in range(300))
EXPERIMENT: dict[str, Any] = {
    "name": "poisoned-retrain",
    "fault": {"type": "poisoned_data", "flip_labels": 0.8, "of_label": "1",
              "where": {"channel": "0"}, "seed": 3},
    "steady_state": [{"name": "up", "query": "up", "above": 0}],
    "expect": {"approval": {"rejected_within": "60s"}},
}  # fmt: skip


def fault(**changes: Any) -> PoisonedDataFault:
    return PoisonedDataFault.model_validate({**EXPERIMENT["fault"], **changes})


def test_only_the_chosen_rows_flip_the_same_ones_for_the_same_seed() -> None:
    done = poison(SNAPSHOT, "is_fraud", fault())
    before = [line.split(",") for line in SNAPSHOT.split("\r\n")[1:-1]]
    after = [line.split(",") for line in done.text.split("\r\n")[1:-1]]
    changed = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a]
    assert done.text.startswith("channel,amount,is_fraud\r\n")  # its header and line ends kept
    assert done.chosen == 20 and done.flipped == len(changed) and 12 <= done.flipped <= 20
    assert all(before[i][0] == "0.0" and before[i][2] == "1" and after[i][2] == "0"
               for i in changed)  # "0" matches "0.0": numbers compare as numbers  # fmt: skip
    assert all(b[:2] == a[:2] for b, a in zip(before, after, strict=True))  # features untouched
    assert poison(SNAPSHOT, "is_fraud", fault()).text == done.text
    assert poison(SNAPSHOT, "is_fraud", fault(seed=4)).text != done.text
    both = poison(SNAPSHOT, "is_fraud", fault(of_label=None, where={}, flip_labels=1.0))
    assert both.flipped == both.rows == 300 and both.detail()["share_of_labels_changed"] == 1.0


@pytest.mark.parametrize(("text", "label", "changes", "message"), [
    ("", "is_fraud", {}, "empty: no header"),
    ("a,b\n1,2\n", "is_fraud", {}, "no column 'is_fraud' (it has a, b)"),
    ("channel,is_fraud\n0,1\n0,2\n0,3\n", "is_fraud", {}, "has 3 value(s), not 2"),
    (SNAPSHOT, "is_fraud", {"of_label": "yes"}, "of_label 'yes' is not a value of 'is_fraud'"),
    (SNAPSHOT, "is_fraud", {"where": {"channel": "7"}}, "no row of the training snapshot"),
])  # fmt: skip
def test_a_snapshot_that_cannot_take_the_poison_says_why(
    text: str, label: str, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(TargetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        poison(text, label, fault(**changes))


def test_poisoned_data_and_its_approval_expectation_go_together() -> None:
    Experiment.model_validate(EXPERIMENT)
    with pytest.raises(ValidationError, match="poisoned_data expects 'approval'"):
        Experiment.model_validate({**EXPERIMENT, "expect": {
            "detection": {"alert": "A", "within": "5s"}}})  # fmt: skip
    with pytest.raises(ValidationError, match="a share must be above 0%"):
        fault(flip_labels=0)


def watched(*versions: dict[str, Any], ok: bool = True, error: str | None = None) -> dict[str, Any]:
    return {"type": "approval", "triggered_at": "2026-01-01T00:00:01+00:00",
            "retrain": {"ok": ok, "ended_at": "2026-01-01T00:00:09+00:00",
                        **({} if ok else {"error": "the retrain step: python exited 1: boom"})},
            "versions": [{"version": "5", "created_at": "2026-01-01T00:00:05+00:00",
                          "decision": "rejected", "outcome": "rejected",
                          "reason": "recall gap 0.31 between channels (at most 0.15)",
                          "decided_at": "2026-01-01T00:00:08+00:00", "time_to_decision_s": 7.0,
                          "alias_named_at": None, "served_answers": 0, **v} for v in versions],
            "watched_until": "2026-01-01T00:00:20+00:00", "error": error}  # fmt: skip


def judged(*extra: dict[str, Any]) -> verdict.ExperimentResult:
    records = [*HEALTHY_BEFORE, event("injected", 0),
               {"type": "fault_active", "active": True, "evidence": "the snapshot holds it"},
               *extra, event("reverted", 30, actor="mlchaos", party="mlchaos")]  # fmt: skip
    return verdict.judge(Experiment.model_validate(EXPERIMENT), [parse_record(r) for r in records],
                         FLOOR)  # fmt: skip


def test_a_rejection_in_time_never_served_passes_and_says_what_was_judged() -> None:
    result = judged(watched({}))
    assert result.verdict == "pass", result.reasons
    assert result.approval is not None and result.approval["rejected_within_s"] == 60
    assert "the retrain step was run by mlchaos" in result.notes[0]


@pytest.mark.parametrize(("version", "reason"), [
    ({"decision": "approved", "outcome": "approved"},
     "approval: the gate approved version 5, trained on the poisoned snapshot (recall gap 0.31 "
     "between channels (at most 0.15))"),
    ({"time_to_decision_s": 75.0},
     "approval: version 5 was rejected 75.0s after the retrain began, over the 60s target"),
    ({"decision": None, "outcome": "undecided", "decided_at": None, "time_to_decision_s": None},
     "approval: version 5, trained on the poisoned snapshot, had no decision 60s after the "
     "retrain began: the gate never decided"),
    ({"served_answers": 12},
     "approval: version 5, trained on the poisoned snapshot, was served: it gave 12 answer(s)"),
])  # fmt: skip
def test_an_approval_a_late_or_missing_decision_or_serving_it_fails(
    version: dict[str, Any], reason: str
) -> None:
    result = judged(watched(version))
    assert result.verdict == "fail" and result.reasons == [reason]


def test_nothing_to_judge_is_never_a_pass() -> None:
    result = judged(watched(ok=False))
    assert result.verdict == "inconclusive"
    assert result.reasons == ["approval: the retrain step failed: the retrain step: python exited "
                              "1: boom, and no version was registered within 60s: the gate had "
                              "nothing to decide"]  # fmt: skip
    assert judged(watched({}, error="MLflow unreachable")).verdict == "inconclusive"
    assert judged(watched({"decision": "maybe", "outcome": "other"})).verdict == "inconclusive"
    assert judged().reasons == ["approval: the retrain never ran, so the gate was never watched"]


def test_the_table_shows_the_gates_decision_and_its_time() -> None:
    from mlchaos.schema.results import Baseline, ExperimentResults, ResultsDocument

    rows = []
    for record in (watched({}), watched({"decision": "approved", "outcome": "approved",
                                         "alias_named_at": "2026-01-01T00:00:09+00:00"})):
        result = judged(record)
        rows.append(ExperimentResults.model_validate(result.as_dict() | {"pages": []}))
    document = ResultsDocument.model_construct(
        scenario="s", verdict="fail", experiments=rows, load=None, baseline=Baseline(),
        false_alarms=[], false_alarm_check=None, left_as_found=None)
    table = summary_table(document)
    assert "approval gate (poisoned retrain)" in table
    assert "v5 rejected 7.0s ✓ ≤60s" in table and "v5 approved ✗, served ✗" in table
