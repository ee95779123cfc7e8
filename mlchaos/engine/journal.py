"""The run journal: one JSON object per line, flushed and fsynced as each thing happens.

A crash loses nothing already written, and `mlchaos recover` reads leases back from it.
Record types:

    run_started   experiment, fault, targets, floor
    lease         the undo a fault will need, written *before* it acts
    event         a timeline event with its time and the source that owns that time
    missed        an event that did not happen, and why (timeout, unreachable, undefined)
    fault_active  whether the injected fault was observably live
    slo           one steady-state check: value, and holds / violated / no_data / unreachable
    activity      chaoslib activity start and end, recorded by the mlchaos control
    run_finished  chaoslib's status, kept for the record, never judged
    interrupted   the SIGINT or SIGTERM that cut the run short, and when
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, type_: str, **fields: Any) -> Record:
        record = {"type": type_, "written_at": datetime.now(UTC).isoformat(), **fields}
        line = json.dumps(record, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
        return record

    def read(self) -> list[Record]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a crash mid-write
        return records

    def event_time(self, event: str) -> datetime | None:
        """When ``event`` happened, per its owner; None if it has not been recorded."""
        for record in self.read():
            if record["type"] == "event" and record["event"] == event:
                return parse_time(record["time"])
        return None

    def last(self, type_: str) -> Record | None:
        found = [r for r in self.read() if r["type"] == type_]
        return found[-1] if found else None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def journal_from(configuration: dict[str, Any] | None) -> Journal:
    """The journal a Chaos Toolkit activity writes to, from its ``configuration``."""
    path = (configuration or {}).get("mlchaos_journal", "mlchaos-journal.jsonl")
    return Journal(Path(path))
