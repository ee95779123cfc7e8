"""The receiver's validation follows the Events API v2 contract, error by error."""

from __future__ import annotations

from typing import Any

import pytest

from mlchaos.receiver.events import validate_event

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


# Issue 17: PagerDuty's REST API gives times to the second; MTTA must never come out short.
def test_rest_api_times_make_mtta_never_shorter_than_it_was() -> None:
    from datetime import UTC, datetime

    from mlchaos.engine.timeline import durations
    from mlchaos.observe.pagerduty_rest import PagerDutyRest

    class Client:
        def list_all(self, path: str, **_: object) -> list[dict[str, object]]:
            if path.endswith("log_entries"):
                return [{"type": "acknowledge_log_entry", "created_at": "2026-01-01T12:00:06Z",
                         "agent": {"summary": "oncall@example.com"}}]  # fmt: skip
            return [{"created_at": "2026-01-01T12:00:04Z", "body": {"details": {}}}]

    pager = object.__new__(PagerDutyRest)
    pager.client, pager._details, pager._read_as, pager.url = Client(), {}, {}, "https://x"
    now = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    raw = {"id": "P1", "status": "acknowledged", "created_at": "2026-01-01T12:00:04Z"}
    incident = pager._read(raw, "svc", now)
    # the page is somewhere in 04..05 and the ack in 06..07: the truth lies between 1 s and 3 s
    paged, acked = incident["triggered_at"], incident["acknowledged_at"]
    assert paged == "2026-01-01T12:00:05+00:00" and acked == "2026-01-01T12:00:07+00:00"
    assert incident["triggered_earliest"] == "2026-01-01T12:00:04+00:00"
    assert incident["acknowledged_by"] == "oncall@example.com"
    times = {e: datetime.fromisoformat(t) for e, t in (("paged", paged), ("acknowledged", acked))}
    starts = {"paged": datetime.fromisoformat(incident["triggered_earliest"])}
    assert durations(times, starts)["mtta"] == 3.0  # the longest it can have been
    assert durations(times)["mtta"] == 2.0  # both ends rounded up: up to a second short
