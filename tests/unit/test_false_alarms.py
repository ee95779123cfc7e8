"""False alarms before the first fault: what changed with nothing to mitigate, and never a true
alarm called false."""

from __future__ import annotations

from mlchaos.engine.false_alarms import QuietStart, _not_serving, served_changes


def test_a_version_that_starts_answering_with_no_fault_in_is_a_false_alarm() -> None:
    rows = [(100, "v2", 200), (101, "v2", 250), (105, "v2", 100), (105, "fallback-v1", 150),
            (106, "fallback-v1", 250)]  # fmt: skip
    assert served_changes(rows, 100.2, 107) == [
        "version fallback-v1 started answering at 1970-01-01T00:01:45+00:00 (400 of 950 "
        "requests) with no fault injected: what is served changed"
    ]


def test_what_already_served_when_the_load_began_is_inherited_not_caused() -> None:
    rows = [(100, "fallback-v1", 200), (101, "fallback-v1", 250), (102, "fallback-v1", 250)]
    assert served_changes(rows, 100.2, 103) == []
    assert served_changes([], 100, 103) == []


def test_a_service_that_rejects_the_load_is_named_with_its_error_share_and_codes() -> None:
    said = _not_serving(0.0, 1200, {400: 1180, 404: 20})
    assert said == (
        "the service was not serving mlchaos's load (100% errors of 1200 requests before any "
        "fault: 400 ×1180, 404 ×20): fix the payload or the service; its alerts were right, "
        "so no page is called a false alarm"
    )
    assert QuietStart("not serving", reason=said).as_dict()["status"] == "not serving"
