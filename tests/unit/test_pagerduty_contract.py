"""The receiver's validation follows the Events API v2 contract, error by error."""

from __future__ import annotations

from typing import Any

import pytest

from mlchaos.reference.pagerduty_receiver import validate_event

KEY = "k" * 32
KEYS = {KEY: "model-oncall"}


def trigger(**overrides: Any) -> dict[str, Any]:
    event = {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {"summary": "high error rate", "source": "model", "severity": "critical"},
    }
    event.update(overrides)
    return event


def test_valid_trigger_has_no_errors() -> None:
    assert validate_event(trigger(), KEYS) == []


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (trigger(routing_key="short"), "Length of 'routing_key' is incorrect"),
        (trigger(routing_key="x" * 32), "Invalid routing key"),
        (trigger(event_action="escalate"), "'event_action' is invalid"),
        (trigger(payload=None), "'payload' is missing or not an object"),
        (trigger(payload={"source": "s", "severity": "info"}), "'payload.summary' is missing"),
        (
            trigger(payload={"summary": "x" * 1025, "source": "s", "severity": "info"}),
            "'payload.summary' is longer than 1024 characters",
        ),
        (
            trigger(payload={"summary": "s", "source": "s", "severity": "fatal"}),
            "'payload.severity' is invalid",
        ),
        (
            trigger(
                payload={
                    "summary": "s",
                    "source": "s",
                    "severity": "info",
                    "timestamp": "yesterday",
                }
            ),
            "'payload.timestamp' is not a valid",
        ),
        ({"routing_key": KEY, "event_action": "acknowledge"}, "'dedup_key' is required"),
        (trigger(dedup_key="d" * 256), "'dedup_key' must be a string of 1 to 255 characters"),
        ("not an object", "Event object must be a JSON object"),
    ],
)
def test_each_contract_violation_is_reported(event: Any, error: str) -> None:
    errors = validate_event(event, KEYS)
    assert any(e.startswith(error) for e in errors), errors


def test_all_violations_are_reported_together() -> None:
    errors = validate_event({"routing_key": "x", "event_action": "nope"}, KEYS)
    assert len(errors) == 2
