"""A run's folder: where each of its files lives, said once.

    RUN_DIR/
      results.json              the typed results (`mlchaos.schema.results`)
      junit.xml  postmortem.md  report.html
      journals/NAME.jsonl       each experiment's journal, fsynced record by record
      journals/leases/ID.json   an MLflow lease's keeper file (`mlchaos.faults.keeper`)
      series/NAME.json          each experiment's SLI series, for the charts

A run that has not finished is registered in an open-runs folder (`OPEN_RUNS` under the
reference stack's state dir, or under the report dir for a run against a service file), so
that `mlchaos recover` finds its journals after a `kill -9`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OPEN_RUNS", "RunDir", "open_run_dirs"]

OPEN_RUNS = ".open-runs"
"""Where runs register until they end: a marker file each, naming its run folder."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def results(self) -> Path:
        return self.path / "results.json"

    def journal(self, experiment: str) -> Path:
        return self.path / "journals" / f"{experiment}.jsonl"

    def journals(self) -> list[Path]:
        return sorted((self.path / "journals").glob("*.jsonl"))

    def series(self, experiment: str) -> Path:
        return self.path / "series" / f"{experiment}.json"

    def register(self, open_runs: Path) -> Path:
        """Mark this run open in ``open_runs``; the marker is removed when it ends."""
        open_runs.mkdir(parents=True, exist_ok=True)
        marker = open_runs / f"{self.path.name}.json"
        marker.write_text(json.dumps({"run_dir": str(self.path.resolve())}))
        return marker

    @staticmethod
    def unregister(marker: Path) -> None:
        """The run ended: its marker goes, and the open-runs folder too once it is empty, so
        a report folder holds only runs."""
        marker.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # another run is still open there
            marker.parent.rmdir()


def open_run_dirs(open_runs: Path) -> list[tuple[Path, RunDir]]:
    """Each registered run: its marker, and its folder."""
    found = []
    for marker in sorted(open_runs.glob("*.json")):
        try:
            found.append((marker, RunDir(Path(json.loads(marker.read_text())["run_dir"]))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a marker cut short by the kill: its run has no journal worth reading
    return found
