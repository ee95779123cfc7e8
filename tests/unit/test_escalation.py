"""The receiver's escalation policies: when an incident nobody acknowledges is escalated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlchaos.receiver.events import EscalationPolicy, Incident, escalations

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
POLICY = EscalationPolicy.model_validate({
    "name": "fraud", "num_loops": 1,
    "escalation_rules": [{"escalation_delay_in_minutes": 0.1, "targets": ["primary"]},
                         {"escalation_delay_in_minutes": 0.1, "targets": ["secondary"]}],
})  # fmt: skip


def incident(**times: datetime) -> Incident:
    return Incident(
        id="P00001", service="fraud", dedup_key="k", status="triggered", summary="s",
        severity="critical", source="am", triggered_at=T0, **times,
    )  # fmt: skip


def test_nobody_acknowledges_so_each_level_in_turn_then_round_again() -> None:
    reached = escalations(incident(), POLICY, T0 + timedelta(seconds=60))
    assert reached == [
        (2, T0 + timedelta(seconds=6)),  # after level 1's 6 s: level 2
        (1, T0 + timedelta(seconds=12)),  # a loop: level 1 again
        (2, T0 + timedelta(seconds=18)),  # and level 2, the last of one loop
    ]


def test_an_acknowledgement_stops_it_and_nothing_escalates_before_its_delay() -> None:
    acked = incident(acknowledged_at=T0 + timedelta(seconds=8))
    assert escalations(acked, POLICY, T0 + timedelta(seconds=60)) == [
        (2, T0 + timedelta(seconds=6))
    ]
    assert escalations(incident(), POLICY, T0 + timedelta(seconds=5)) == []
