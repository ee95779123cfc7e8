"""The human game day's live view: the clock against each target, pages and the runbook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlchaos.journal import parse_record
from mlchaos.report import live
from tests.unit.test_verdict import T0, at, event


def live_lines(records: list[dict[str, Any]], *args: Any) -> list[str]:
    return live.live_lines([parse_record(r) for r in records], *args)


STARTED = {
    "type": "run_started",
    "experiment": "bad",
    "fault": "bad_version",
    "targets": {"mttd": 5.0, "time_to_page": 10.0, "mtta": 30.0, "mttm": 20.0},
}
PAGE = {
    "id": "P00003",
    "status": "triggered",
    "custom_details": {"alertname": "ModelPredictionShift"},
    "links": [{"href": "file:///srv/runbooks/bad-version.md", "text": "Runbook"}],
}


def test_before_injection_it_says_what_is_being_injected() -> None:
    assert live_lines([STARTED], [], T0) == ["── bad: injecting bad_version…"]


def test_clock_against_each_target_pages_and_runbook() -> None:
    records = [STARTED, event("injected", 0), event("detected", 2.5), event("paged", 4.0)]
    lines = live_lines(records, [PAGE], T0 + timedelta(seconds=12))
    assert lines[0] == "── bad  +12.0s"
    assert "  ✓ detected     +2.5s  target ≤5s" in lines
    assert "  ✓ paged        +4.0s  target ≤10s" in lines
    assert "  … acknowledged         target ≤30s after the page: 22.0s left" in lines
    assert "  … mitigated            target ≤20s: 8.0s left" in lines
    assert "  … recovered" in lines  # no target: nothing to count down
    assert (
        "  page P00003 ModelPredictionShift (triggered): acknowledge with `mlchaos ack P00003`"
        " or in PagerDuty" in lines
    )
    assert lines[-1] == "  runbook: file:///srv/runbooks/bad-version.md"


def test_late_and_overdue_events_are_marked() -> None:
    records = [STARTED, event("injected", 0), event("detected", 7.0)]
    lines = live_lines(records, [], T0 + timedelta(seconds=25))
    assert "  ✗ detected     +7.0s  target ≤5s" in lines
    assert "  … mitigated            target ≤20s: 5.0s OVER" in lines
    assert at(0) == T0.isoformat()
