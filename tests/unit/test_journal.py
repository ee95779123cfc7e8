"""The journal keeps typed records: each kind reads back as it was written, None included, and
a line torn by a crash is skipped without losing the records around it."""

from __future__ import annotations

from pathlib import Path

from mlchaos.journal import (
    Activity,
    EventRecord,
    FaultActive,
    FloorRecord,
    Interrupted,
    Journal,
    Lease,
    LeaseAcquired,
    LeaseEnded,
    Missed,
    PreflightFailed,
    RunbookStep,
    RunFinished,
    RunStarted,
    SloCheck,
)
from mlchaos.vocabulary import Event

AT = "2026-12-01T00:00:00+00:00"
ONE_OF_EACH = [
    RunStarted(experiment="e", fault="bad_version", targets={"mttd": 5.0}),
    FloorRecord(scrape_interval_s=1, evaluation_interval_s=1, for_s=1, group_wait_s=1, total_s=4),
    PreflightFailed(reason="down"),
    Lease(intent=0, target="registry", undo="roll back", url="http://r", version="v3"),
    LeaseAcquired(intent=0, lease_id="L1", expires_at=AT),
    LeaseEnded(intent=0, lease_id=None, action="already undone"),
    EventRecord(event=Event.INJECTED, time=AT, source="registry audit log"),
    Missed(event=Event.PAGED, status="unreachable", reason="receiver down"),
    FaultActive(active=False, evidence="0 requests"),
    SloCheck(role="serving", name="serving", status="no_data", reason="no requests"),
    Activity(name=None, phase="end", status="failed", output=None, exception=None),
    RunbookStep(runbook="r", step="s", command="true", at=AT, duration_s=0.1, ok=True, error=""),
    RunFinished(chaoslib_status=None),
    Interrupted(signal="SIGTERM", at=AT),
]


def test_every_kind_of_record_reads_back_as_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    for record in ONE_OF_EACH:
        journal.write(record)
    assert journal.read() == ONE_OF_EACH
    assert journal.of(Lease)[0].as_intent()["version"] == "v3"  # a target's own details kept


def test_a_torn_line_loses_only_itself(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.write(ONE_OF_EACH[3])
    with journal.path.open("ab") as out:  # killed mid-write, inside a character
        out.write('{"type": "lease_acquired", "note": "✓'.encode()[:-1])
    journal.write(ONE_OF_EACH[5])
    assert [r.type for r in journal.read()] == ["lease", "lease_ended"]
