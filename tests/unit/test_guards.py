"""Stop conditions: a breach stops the fault, and so does a guard nobody can read (fail-safe)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.engine.guards import ERROR_LIMIT, watching
from mlchaos.errors import ObservationError
from mlchaos.journal import EventRecord, Journal, Lease, Stopped
from mlchaos.schema import Slo
from mlchaos.service import Service
from tests.conftest import wait_until

SERVICE = Service(
    model="m", model_url="http://g", gateway_url="http://g", prometheus_url="http://p",
    alertmanager_url="http://a", traffic_query="x",
)  # fmt: skip
GUARD = Slo(name="edge-errors", query="errors", below=0.5)


class Reads:
    """A metrics source that answers each read with the next of ``answers`` (the last repeats):
    a list of values, or an exception to raise."""

    def __init__(self, *answers: list[float] | Exception) -> None:
        self.answers = list(answers)
        self.reads = 0

    def values(self, query: str) -> list[float]:
        answer = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def injected(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path / "j.jsonl")
    journal.write(Lease(intent=0, target="gateway", undo="end it"))
    journal.write(EventRecord(event="injected", time=datetime.now(UTC).isoformat(), source="test"))
    return journal


def watch(journal: Journal, reads: Reads, until: Any) -> list[Journal]:
    reverted: list[Journal] = []
    with watching(journal, SERVICE, (GUARD,), reads, reverted.append, 0.01):  # type: ignore[arg-type]
        wait_until(until, timeout=10)
    return reverted


def test_a_breached_guard_stops_the_fault(tmp_path: Path) -> None:
    journal = injected(tmp_path)
    reverted = watch(journal, Reads([0.1], [0.8]), lambda: journal.of(Stopped))
    (stop,) = journal.of(Stopped)
    assert (stop.guard, stop.value, stop.reason) == ("edge-errors", 0.8, None)
    assert reverted == [journal] and journal.stop_marker.exists()


def test_an_unreadable_guard_stops_the_fault_fail_safe(tmp_path: Path) -> None:
    journal = injected(tmp_path)
    down = ObservationError("Prometheus at http://p did not answer")
    reads = Reads(down)
    reverted = watch(journal, reads, lambda: journal.of(Stopped))
    (stop,) = journal.of(Stopped)
    assert stop.value is None
    assert stop.reason == f"Prometheus at http://p did not answer ({ERROR_LIMIT} reads in a row)"
    assert reads.reads == ERROR_LIMIT and reverted == [journal]


def test_a_guard_with_no_series_is_unreadable_too(tmp_path: Path) -> None:
    journal = injected(tmp_path)
    watch(journal, Reads([]), lambda: journal.of(Stopped))
    assert journal.of(Stopped)[0].reason == (
        f"its query returned no series: errors ({ERROR_LIMIT} reads in a row)"
    )


def test_one_failed_read_among_good_ones_stops_nothing(tmp_path: Path) -> None:
    journal = injected(tmp_path)
    blink = ObservationError("one slow scrape")
    answers: list[list[float] | Exception] = [[0.1], blink, blink, blink, [0.1], blink, [0.1]]
    reads = Reads(*answers)
    watch(journal, reads, lambda: reads.reads >= len(answers) + 4)
    assert journal.of(Stopped) == []
