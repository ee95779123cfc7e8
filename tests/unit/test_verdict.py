"""Verdicts come from the journal alone; nothing unknown ever becomes a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlchaos.engine import verdict
from mlchaos.engine.floor import Floor
from mlchaos.engine.verdict import ExperimentResult, overall
from mlchaos.journal import parse_record
from mlchaos.loader import load_experiment
from mlchaos.schema import Experiment
from mlchaos.schema.experiment import Escalation, Paging
from tests.conftest import FIXTURES


def judge(
    experiment: Experiment, records: list[dict[str, Any]], floor: Floor | None
) -> ExperimentResult:
    """The verdict on records written as a journal's lines hold them (JSON objects)."""
    return verdict.judge(experiment, [parse_record(r) for r in records], floor)


T0 = datetime(2026, 1, 1, tzinfo=UTC)
FLOOR = Floor(1.0, 1.0, 1.0, 1.0)
EXPERIMENT = load_experiment(FIXTURES / "experiments" / "good.yaml")  # MTTD 5s, MTTR 30s


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def event(
    name: str, seconds: float, actor: str = "prometheus", party: str | None = "team", **extra: Any
) -> dict[str, Any]:
    record = {"type": "event", "event": name, "time": at(seconds), "source": "test", **extra}
    return {**record, "actor": actor, "party": party} if party else record


def slo(status: str, role: str = "slo", **extra: Any) -> dict[str, Any]:
    return {"type": "slo", "name": "errors", "role": role, "status": status, **extra}


HEALTHY_BEFORE = [slo("holds", value=0.0), slo("holds", role="traffic", value=90.0)]
ACTIVE = {"type": "fault_active", "active": True, "evidence": "serves v3"}


def passing(detected: float = 2.0, recovered: float = 9.0) -> list[dict[str, Any]]:
    return [
        *HEALTHY_BEFORE,
        event("injected", 0),
        ACTIVE,
        event("detected", detected),
        event("recovered", recovered),
        event("reverted", 12),
    ]


def test_all_targets_met_passes_with_durations() -> None:
    result = judge(EXPERIMENT, passing(), FLOOR)
    assert result.verdict == "pass", result.reasons
    assert result.durations_s["mttd"] == 2.0
    assert result.durations_s["mttr"] == 9.0
    assert result.floor_s == 2.0  # MTTD is pending: its floor is scrape + evaluation
    assert result.floors_s == {"mttd": 2.0, "time_to_fire": 3.0, "time_to_page": 4.0}
    assert result.timeline["paged"] is None


def test_late_detection_fails_naming_the_target() -> None:
    result = judge(EXPERIMENT, passing(detected=7.5), FLOOR)
    assert result.verdict == "fail"
    assert result.reasons == ["detection (MTTD): 7.5s, over the 5s target"]


def test_event_that_never_came_fails_with_its_reason() -> None:
    records = [r for r in passing() if r.get("event") != "detected"]
    records.append(
        {
            "type": "missed",
            "event": "detected",
            "status": "undefined",
            "reason": "no loaded alerting rule defines Nope (loaded: A)",
        }
    )
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "fail"
    assert result.reasons == [
        "detection (MTTD): target 5s missed, no loaded alerting rule defines Nope (loaded: A)"
    ]


def test_unreachable_owner_is_inconclusive_not_pass() -> None:
    records = [r for r in passing() if r.get("event") != "detected"]
    records.append(
        {
            "type": "missed",
            "event": "detected",
            "status": "unreachable",
            "reason": "Prometheus at http://127.0.0.1:1 did not answer",
        }
    )
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert "cannot tell" in result.reasons[0]


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        (slo("no_data", reason="query returned no series: x"), "steady state errors: query"),
        (slo("unreachable", reason="Prometheus down"), "steady state errors: Prometheus down"),
        (slo("violated", role="traffic", value=0.0, condition="> 1"), "no traffic: 0.00 req/s"),
        (slo("violated", value=0.5, condition="< 0.01"), "steady state did not hold before"),
    ],
)
def test_no_injection_because_of_steady_state_is_inconclusive(
    before: dict[str, Any], reason: str
) -> None:
    result = judge(EXPERIMENT, [before], FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons[0].startswith(reason)


def test_preflight_failure_is_inconclusive() -> None:
    records = [{"type": "preflight_failed", "reason": "cannot read the monitoring: down"}]
    result = judge(EXPERIMENT, records, None)
    assert (result.verdict, result.reasons) == (
        "inconclusive",
        ["cannot read the monitoring: down"],
    )
    assert result.floor_s is None


def test_fault_not_active_is_invalid() -> None:
    records = [
        *HEALTHY_BEFORE,
        event("injected", 0),
        event("reverted", 6),
        {"type": "fault_active", "active": False, "evidence": "still serves v2"},
    ]
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "invalid"
    assert result.reasons == ["the fault was not observably active: still serves v2"]


def test_fault_left_unreverted_fails() -> None:
    records = [r for r in passing() if r.get("event") != "reverted"]
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "fail"
    assert result.reasons == ["the fault was not reverted; run `mlchaos recover` now"]


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["pass", "pass"], "pass"),
        (["pass", "fail", "inconclusive"], "fail"),
        (["pass", "invalid"], "inconclusive"),
        (["inconclusive", "pass"], "inconclusive"),
        ([], "inconclusive"),
    ],
)
def test_game_day_verdict_is_the_worst(verdicts: list[str], expected: str) -> None:
    assert overall(verdicts) == expected


def test_pages_and_rollbacks_before_any_fault_are_false_alarms() -> None:
    from mlchaos.engine.false_alarms import false_alarms

    pages = [
        {"id": "P1", "triggered_at": at(5), "custom_details": {"alertname": "ModelSlowRequests"}},
        {"id": "P2", "triggered_at": at(50), "custom_details": {}},  # after the window
    ]
    audit = [
        {"action": "promote", "at": at(1), "model": "m", "from_version": "v1", "actor": "x"},
        {"action": "rollback", "at": at(6), "model": "m", "from_version": "v2",
         "actor": "rollback-controller", "reason": "alert ModelSlowRequests firing"},
    ]  # fmt: skip
    found = false_alarms(pages, audit, T0, T0 + timedelta(seconds=30))
    assert found == [
        f"page P1 at {at(5)} (ModelSlowRequests) with no fault injected",
        f"rollback of m from v2 at {at(6)} by rollback-controller "
        "(alert ModelSlowRequests firing) with no fault injected",
    ]
    assert false_alarms([], [], T0, T0 + timedelta(seconds=30)) == []


# Issue 8: a service that rejects every request is not serving, whatever its metrics say.
def test_a_service_answering_only_4xx_is_inconclusive_before_injection() -> None:
    records = [
        *HEALTHY_BEFORE,  # its own error SLO counts only 5xx, so it "holds"
        slo("violated", role="serving", value=0.0, answered=1325,
            condition=">= 90% of requests answered 2xx"),
        *passing()[2:],
    ]  # fmt: skip
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == [
        "the service is not in steady state: 0% of 1325 requests succeeded at the gateway, "
        "need >= 90% of requests answered 2xx"
    ]


# Issue 8: chaoslib says "interrupted" whenever the method stopped early; only a signal is.
def test_a_failed_injection_is_inconclusive_with_its_cause_not_interrupted() -> None:
    records = [
        *HEALTHY_BEFORE,
        {"type": "activity", "name": "inject-data_drift", "phase": "end", "status": "failed",
         "exception": "KeyError: 'reference'"},
        {"type": "run_finished", "chaoslib_status": "interrupted"},
    ]  # fmt: skip
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == ["the fault was not injected: KeyError: 'reference'"]


def test_a_fault_never_active_is_invalid_not_interrupted() -> None:
    records = [
        *HEALTHY_BEFORE,
        event("injected", 0),
        {"type": "fault_active", "active": False, "evidence": "0 of 2000 requests faulted"},
        {"type": "run_finished", "chaoslib_status": "interrupted"},
        event("reverted", 3),
    ]
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "invalid"
    assert result.reasons == ["the fault was not observably active: 0 of 2000 requests faulted"]


def test_only_a_recorded_signal_makes_a_run_interrupted() -> None:
    records = [*passing()[:-1], {"type": "interrupted", "signal": "SIGTERM", "at": at(5)},
               event("reverted", 6)]  # fmt: skip
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == ["interrupted by SIGTERM before every event was observed"]


# Issue 8: a component lost mid-run makes what depends on it "cannot tell", never "missed".
def test_a_page_that_could_not_be_observed_makes_mtta_cannot_tell_too() -> None:
    experiment = EXPERIMENT.model_copy(
        update={"expect": EXPERIMENT.expect.model_validate({
            **EXPERIMENT.expect.model_dump(),
            "paging": {"within": 10}, "acknowledgement": {"within": 30},
        })}
    )  # fmt: skip
    unreachable = "Alertmanager at http://127.0.0.1:1 is unreachable: ConnectionError"
    records = [
        *passing(),
        {"type": "missed", "event": "paged", "status": "unreachable", "reason": unreachable},
        {"type": "missed", "event": "acknowledged", "status": "unreachable",
         "reason": "the page could not be observed, so neither can its acknowledgement"},
    ]  # fmt: skip
    result = judge(experiment, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == [
        f"paging: cannot tell, {unreachable}",
        "acknowledgement (MTTA): cannot tell, the page could not be observed, so neither can "
        "its acknowledgement",
    ]


def test_a_stop_condition_makes_the_verdict_stopped_and_names_the_guard() -> None:
    records = [
        *HEALTHY_BEFORE,
        event("injected", 0),
        {"type": "fault_active", "active": True, "evidence": "live"},
        event("detected", 1),
        {"type": "stopped", "guard": "edge-errors", "query": "q", "condition": "< 0.5",
         "value": 0.8, "breached_at": at(2), "reverted_at": at(2.2), "breach_to_revert_s": 0.2},
        event("reverted", 2.2),
        {"type": "missed", "event": "paged", "status": "stopped",
         "reason": "not waited for: a stop condition ended the fault"},
        {"type": "run_finished", "chaoslib_status": "completed"},
    ]  # fmt: skip
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "stopped"
    assert result.reasons == [
        "stopped: edge-errors = 0.8, need < 0.5; the fault was reverted 0.20s after the breach "
        "was seen"
    ]  # the targets not waited for are neither missed nor unknown
    assert overall(["pass", "stopped"]) == "fail"  # the game day fails; the experiment says why


# Issue 17: a verdict measures the team, never mlchaos.
FULL = EXPERIMENT.model_copy(
    update={"expect": EXPERIMENT.expect.model_validate({
        **EXPERIMENT.expect.model_dump(),
        "paging": {"within": 10}, "acknowledgement": {"within": 30},
        "mitigation": {"by": "rollback", "within": 20},
    })}
)  # fmt: skip


def team_run(
    mitigated_by: str = "rollback-controller", party: str = "team"
) -> list[dict[str, Any]]:
    return [
        *HEALTHY_BEFORE,
        event("injected", 0, actor="mlchaos", party="mlchaos"),
        ACTIVE,
        event("detected", 2),
        event("fired", 3),
        event("paged", 4, actor="alertmanager"),
        {"type": "responded", "action": "acknowledge", "incident": "P1",
         "actor": "mlchaos-responder", "delay_s": 2.0},
        event("acknowledged", 6.1, actor="mlchaos-responder", party="mlchaos"),
        event("mitigated", 5, actor=mitigated_by, party=party),
        event("recovered", 9, actor=mitigated_by, party=party),
        event("reverted", 12, actor="mlchaos", party="mlchaos"),
    ]  # fmt: skip


def test_a_simulated_acknowledgement_is_reported_never_judged() -> None:
    result = judge(FULL, team_run(), FLOOR)
    assert result.verdict == "pass", result.reasons
    assert result.durations_s["mtta"] == 2.1
    assert result.simulated == {"mtta": "2.1s, by mlchaos-responder, which waits 2s as configured"}
    assert result.actors["mitigated"] == {"actor": "rollback-controller", "party": "team"}
    assert result.notes[0] == (
        "acknowledgement (MTTA) simulated: 2.1s, by mlchaos-responder, which waits 2s as "
        "configured; not judged"
    )


def test_a_simulated_acknowledgement_over_its_target_fails_nothing() -> None:
    records = [{**r, "time": at(45)} if r.get("event") == "acknowledged" else r for r in team_run()]
    result = judge(FULL, records, FLOOR)
    assert result.verdict == "pass", result.reasons  # 41 s against 30 s: not compared
    assert result.simulated["mtta"].startswith("41.0s, by mlchaos-responder")


def test_a_mitigation_mlchaos_did_is_the_teams_missed_target() -> None:
    result = judge(FULL, team_run("mlchaos-responder (runbook step 'x')", "mlchaos"), FLOOR)
    assert result.verdict == "fail"
    assert result.reasons == [
        "mitigation (MTTM): target 20s missed: the team's systems never did it; "
        "mlchaos-responder (runbook step 'x') did, at +5.0s: simulated, not judged",
        "recovery (MTTR): target 30s missed: the team's systems never did it; "
        "mlchaos-responder (runbook step 'x') did, at +9.0s: simulated, not judged",
    ]
    assert set(result.simulated) == {"mtta", "mttm", "mttr"}


def test_an_event_nobody_is_named_for_cannot_be_judged() -> None:
    records = [
        event(r["event"], 9, party=None) if r.get("event") == "recovered" else r for r in team_run()
    ]
    result = judge(FULL, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == ["recovery (MTTR): cannot tell who caused it (no actor recorded)"]


def test_a_journal_without_a_recorded_effect_never_passes() -> None:
    records = [r for r in passing() if r is not ACTIVE]
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "invalid"
    assert result.reasons == ["the fault's effect was never confirmed: nothing shows it was live"]


def test_a_confirm_probe_that_raised_is_inconclusive_with_its_reason() -> None:
    records = [
        *HEALTHY_BEFORE,
        event("injected", 0),
        {"type": "activity", "name": "confirm-fault-active", "phase": "end", "status": "failed",
         "exception": "gateway at http://127.0.0.1:1 is unreachable"},
        event("detected", 2),
        event("recovered", 9),
        event("reverted", 9.5),
    ]  # fmt: skip
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == [
        "cannot tell whether the fault took effect: gateway at http://127.0.0.1:1 is unreachable"
    ]


@pytest.mark.parametrize(
    ("changed", "defect"),
    [
        ({"detected": -1.0}, "detected -1.000s from injected: an alert cannot go pending on a "
                             "change before it is made"),
        ({"mitigated": 0.0}, "mitigated +0.000s from injected: nothing mitigates a fault "
                             "before it is in"),
        ({"fired": 2.5}, "fired 0.500s after it went pending, less than the rule's `for` (1s)"),
        ({"paged": 2.9}, "paged -0.100s from fired: Alertmanager pages only for a firing alert"),
    ],
)  # fmt: skip
def test_an_event_before_its_cause_is_a_clock_or_source_defect(
    changed: dict[str, float], defect: str
) -> None:
    records = [
        {**r, "time": at(changed[r["event"]])} if r.get("event") in changed else r
        for r in team_run()
    ]
    result = judge(FULL, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == [f"clock or source defect: {defect}"]


def test_a_duration_starts_at_the_earliest_its_owner_allows() -> None:
    """A pager's page time rounded up to the end of its second starts MTTA at the second's
    start: rounding never makes an acknowledgement look faster than it was."""
    records = [
        event("paged", 5.0, actor="alertmanager", earliest=at(4.0))
        if r.get("event") == "paged" else r
        for r in team_run()
    ]  # fmt: skip
    result = judge(FULL, records, FLOOR)
    assert result.durations_s["time_to_page"] == 5.0  # the latest it can have been
    assert result.durations_s["mtta"] == 2.1  # 6.1 from the earliest, 4.0


def test_no_recovery_target_is_said_with_its_reason() -> None:
    experiment = FULL.model_copy(
        update={"expect": FULL.expect.model_validate({
            **FULL.expect.model_dump(exclude={"recovery"}), "no_recovery": "drift ends later",
        })}
    )  # fmt: skip
    result = judge(experiment, team_run(), FLOOR)
    assert result.verdict == "pass", result.reasons
    assert result.notes[-1] == "recovery (MTTR) not judged: drift ends later"


def test_an_unreadable_guard_stops_the_fault_and_says_why() -> None:
    records = [
        *HEALTHY_BEFORE,
        event("injected", 0),
        ACTIVE,
        {"type": "stopped", "guard": "edge-errors", "query": "q", "condition": "< 0.5",
         "reason": "Prometheus at http://127.0.0.1:1 did not answer (4 reads in a row)",
         "breached_at": at(2), "reverted_at": at(2.1), "breach_to_revert_s": 0.1},
        event("reverted", 2.1),
    ]  # fmt: skip
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "stopped"
    assert result.reasons == [
        "stopped: edge-errors could not be read (Prometheus at http://127.0.0.1:1 did not answer "
        "(4 reads in a row)); a guard nobody can read guards nothing, so the fault was "
        "reverted 0.10s later"
    ]


def test_a_signal_right_after_injection_is_interrupted_not_invalid() -> None:
    """The effect was never checked because a Ctrl-C came first: that is the interruption's
    doing, not a fault that did not take."""
    records = [
        *HEALTHY_BEFORE,
        event("injected", 0),
        {"type": "interrupted", "signal": "SIGINT", "at": at(0.1)},
        event("reverted", 0.5),
    ]
    result = judge(EXPERIMENT, records, FLOOR)
    assert result.verdict == "inconclusive"
    assert result.reasons == ["interrupted by SIGINT before every event was observed"]


def test_every_event_a_fault_writes_names_its_actor(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injection and revert are mlchaos's own events: they say so, like every other."""
    import mlchaos.faults.targets as targets
    from mlchaos.faults import leases
    from mlchaos.journal import EventRecord, Journal

    class Expired:  # the gateway's timer ended the lease: mlchaos's lease, whoever ended it
        def end_lease(self, *_: object) -> dict[str, str]:
            return {"at": at(5), "action": "expire", "actor": "gateway"}

    monkeypatch.setattr(targets, "target", lambda name: Expired())
    journal = Journal(tmp_path / "j.jsonl")
    leases.record_intent(journal, "gateway", undo="end it", url="http://127.0.0.1:9")
    leases.record_injected(journal, at(0), "gateway audit log (inject)", {})
    leases.revert_all(journal)
    actors = {r.event: (r.actor, r.party) for r in journal.of(EventRecord)}
    assert actors == {"injected": ("mlchaos", "mlchaos"), "reverted": ("gateway", "mlchaos")}


ESCALATING = EXPERIMENT.model_copy(update={"expect": EXPERIMENT.expect.model_copy(update={
    "paging": Paging(service="oncall", within=10.0),
    "escalation": Escalation(within=15.0),
})})  # fmt: skip


def test_an_escalation_the_policy_made_in_time_passes_timed_from_the_page() -> None:
    """Nobody acknowledged: the pager's escalation policy notified its next level. Its time
    runs from the page, as the policy counts its delay."""
    records = [*passing(), event("fired", 3), event("paged", 4, actor="alertmanager"),
               event("escalated", 10, actor="escalation policy")]  # fmt: skip
    result = judge(ESCALATING, records, FLOOR)
    assert result.verdict == "pass", result.reasons
    assert result.durations_s["time_to_escalate"] == 6.0
    late = [*records[:-1], event("escalated", 21, actor="escalation policy")]
    assert judge(ESCALATING, late, FLOOR).reasons == ["escalation: 17.0s, over the 15s target"]


def test_an_escalation_that_never_came_fails_and_one_before_the_page_is_a_defect() -> None:
    records = [*passing(), event("fired", 3), event("paged", 4, actor="alertmanager"),
               {"type": "missed", "event": "escalated", "status": "timeout",
                "reason": "no escalation by +19.0s"}]  # fmt: skip
    result = judge(ESCALATING, records, FLOOR)
    assert result.verdict == "fail"
    assert result.reasons == ["escalation: target 15s missed, no escalation by +19.0s"]
    early = [*records[:-1], event("escalated", 3.5, actor="escalation policy")]
    assert "escalated -0.500s from paged: only a page can escalate" in " ".join(
        judge(ESCALATING, early, FLOOR).reasons
    )


CANARY = Experiment.model_validate({
    "name": "canary", "steady_state": [{"name": "errors", "query": "e", "below": 0.01}],
    "fault": {"type": "bad_version", "version": "3", "rollout": "canary"},
    "expect": {"abort": {"within": "40s", "max_share": "20%"}, "no_recovery": "a canary"},
})  # fmt: skip


def watched(outcome: str, largest: float, at_end: float = 0.0) -> dict[str, Any]:
    return {"type": "rollout", "version": "3", "expected": "aborted", "outcome": outcome,
            "largest_share": largest, "share_at_end": at_end}  # fmt: skip


def canary_run(*records: dict[str, Any]) -> list[dict[str, Any]]:
    return [*HEALTHY_BEFORE, event("injected", 0), ACTIVE, *records, event("reverted", 60)]


def test_a_canary_aborted_in_time_below_its_share_passes() -> None:
    aborted = event("aborted", 12.5, actor="the team's rollout")
    result = judge(CANARY, canary_run(aborted, watched("aborted", 0.01)), FLOOR)
    assert result.verdict == "pass", result.reasons
    assert result.durations_s["time_to_abort"] == 12.5
    assert result.rollout is not None and result.rollout["max_share"] == 0.2


def test_a_canary_aborted_only_past_its_share_fails_naming_the_share() -> None:
    aborted = event("aborted", 30, actor="the team's rollout")
    result = judge(CANARY, canary_run(aborted, watched("aborted", 0.26)), FLOOR)
    assert result.verdict == "fail"
    assert result.reasons == [
        "canary: version 3 reached 26% of the answers, at or above the 20% "
        "expect.abort.max_share allows"
    ]


def test_a_paused_canary_fails_and_says_it_still_serves() -> None:
    missed = {"type": "missed", "event": "aborted", "status": "timeout",
              "reason": "no rollout abort of candidate 3 by +65.0s"}  # fmt: skip
    result = judge(CANARY, canary_run(missed, watched("unsettled", 0.01, at_end=0.01)), FLOOR)
    assert result.verdict == "fail"
    assert result.reasons[0] == (
        "canary abort: target 40s missed, no rollout abort of candidate 3 by +65.0s"
    )
    assert "neither aborted nor promoted 3: it still gave 1% of the last" in result.reasons[1]


def test_a_canary_aborted_only_by_mlchaos_is_the_teams_missed_target() -> None:
    keeper = "mlchaos lease keeper (the lease ran out)"
    aborted = event("aborted", 20, actor=keeper, party="mlchaos")
    result = judge(CANARY, canary_run(aborted, watched("aborted", 0.01)), FLOOR)
    assert result.verdict == "fail"
    assert "the team's systems never did it" in result.reasons[0]
