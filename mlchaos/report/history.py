"""The run history: every game day's results appended to one SQLite file, and the trends a team
watches across weeks, per service and experiment: MTTD and MTTR p50/p90, verdicts per week,
targets met.

>>> history = History(Path("reports/history.sqlite"))
>>> history.append(document, run_dir)
>>> print(trends_table(history.trends()))

One row per experiment run holds what the trends need (its verdict, and each headline
duration with its target), so a thousand nights aggregate without reading one results.json;
the whole document is kept beside (zlib-compressed), for what a later report wants. A
duration that ends in mlchaos's doing (simulated) is stored as missing, never as the team's
figure, and counts for no target. Appends are transactions, and SQLite's WAL lets `mlchaos
history` read while a nightly appends.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlchaos.errors import InputError, MlchaosError
from mlchaos.report.aggregate import percentile
from mlchaos.schema.results import ResultsDocument
from mlchaos.vocabulary import HEADLINE, Verdict

__all__ = ["FILE_NAME", "SCHEMA", "History", "Trend", "record", "trends_table"]

FILE_NAME = "history.sqlite"
"""The history's default file, in the report directory."""
SCHEMA = 1
"""The layout's version (SQLite's ``user_version``): a file of another is refused, not guessed."""
_COLUMNS = [c for key in HEADLINE for c in (key, f"{key}_target", f"{key}_within")]
_TABLES = f"""
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, service TEXT NOT NULL, scenario TEXT NOT NULL, started_at TEXT NOT NULL,
    verdict TEXT NOT NULL, run_dir TEXT NOT NULL, results BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    run_id TEXT NOT NULL REFERENCES runs(id), service TEXT NOT NULL, name TEXT NOT NULL,
    fault TEXT NOT NULL, verdict TEXT NOT NULL, started_at TEXT NOT NULL, week TEXT NOT NULL,
    {", ".join(f"{c} REAL" for c in _COLUMNS)});
CREATE INDEX IF NOT EXISTS by_service ON experiments (service, name, started_at);
"""


@dataclass
class Trend:
    """One experiment of one service, across the runs in the history."""

    service: str
    experiment: str
    runs: int = 0
    passed: int = 0
    values: dict[str, list[float]] = field(default_factory=dict)
    """The team's durations by headline measure, oldest first (simulated ones left out)."""
    met: dict[str, list[bool]] = field(default_factory=dict)
    """Per measure with a target, whether each run met it (a missing event did not)."""
    weeks: dict[str, dict[str, int]] = field(default_factory=dict)
    """ISO week -> verdict -> count."""
    last: str = ""

    def stats(self, key: str) -> dict[str, float | None]:
        values = sorted(self.values.get(key, []))
        met = self.met.get(key, [])
        return {"p50": percentile(values, 0.5), "p90": percentile(values, 0.9),
                "met": sum(met) / len(met) if met else None}  # fmt: skip

    @property
    def targets_met(self) -> float | None:
        """The share of runs that met every target: the passes."""
        return self.passed / self.runs if self.runs else None


class History:
    """A run history in one SQLite file, created on the first append."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self, create: bool) -> Iterator[sqlite3.Connection]:
        if not create and not self.path.is_file():
            raise InputError(f"{self.path}: no run history there (a game day writes one with "
                             "--history, or into its --report-dir)")  # fmt: skip
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, SCHEMA):
                    raise InputError(f"{self.path}: a run history of layout {version}; this "
                                     f"mlchaos reads layout {SCHEMA}")  # fmt: skip
                if create and version == 0:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_TABLES)
                    db.execute(f"PRAGMA user_version={SCHEMA}")
                yield db
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a run history mlchaos can read: {exc}") from None

    def append(self, document: ResultsDocument, run_dir: Path, service: str = "") -> bool:
        """Add one finished run; False when it is there already (a run is added once)."""
        name = service or document.service or "unnamed"
        run_id = f"{name}/{run_dir.name}/{document.started_at}"
        rows = [_row(run_id, name, document.started_at, e) for e in document.experiments]
        with self._connect(create=True) as db, db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                return False
            db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", (
                run_id, name, document.scenario, document.started_at, str(document.verdict),
                str(run_dir), zlib.compress(document.to_json().encode())))  # fmt: skip
            marks = ", ".join("?" * (7 + len(_COLUMNS)))
            db.executemany(f"INSERT INTO experiments VALUES ({marks})", rows)
        return True

    def trends(self, service: str | None = None, experiment: str | None = None) -> list[Trend]:
        """Every experiment's trend, by service and name; only ``service`` or ``experiment``
        when given."""
        where, asked = _filter(service, experiment)
        query = (f"SELECT service, name, verdict, started_at, week, {', '.join(_COLUMNS)} "
                 f"FROM experiments{where} ORDER BY service, name, started_at")  # fmt: skip
        found: dict[tuple[str, str], Trend] = {}
        with self._connect(create=False) as db:
            for row in db.execute(query, asked):
                service_, name, verdict, started, week = row[:5]
                trend = found.get((service_, name))
                if trend is None:
                    trend = found[(service_, name)] = Trend(service_, name)
                _add(trend, verdict, started, week, row[5:])
        return list(found.values())

    def series(self, service: str, key: str, last: int = 30) -> list[dict[str, Any]]:
        """The last ``last`` runs of ``service``, oldest first: each run's start and the
        team's ``key`` duration per experiment (what a trend chart draws)."""
        if key not in HEADLINE:
            raise ValueError(f"{key} is not one of {', '.join(HEADLINE)}")
        with self._connect(create=False) as db:
            runs = db.execute("SELECT id, started_at FROM runs WHERE service = ? "
                              "ORDER BY started_at DESC LIMIT ?", (service, last)).fetchall()
            ids = [r[0] for r in runs]
            values: dict[str, dict[str, float | None]] = {i: {} for i in ids}
            marks = ", ".join("?" * len(ids))
            for run_id, name, value in db.execute(
                f"SELECT run_id, name, {key} FROM experiments WHERE run_id IN ({marks})", ids
            ):  # fmt: skip
                values[run_id][name] = value
        return [{"label": started[5:16].replace("T", " "), "values": values[run_id]}
                for run_id, started in reversed(runs)]  # fmt: skip


def record(document: ResultsDocument, run_dir: Path, path: Path) -> str | None:
    """Append a finished run to the history at ``path``; why not, when it could not be (a
    locked or foreign file): said as a warning, the run's own reports are written anyway."""
    try:
        History(path).append(document, run_dir)
    except (MlchaosError, OSError, sqlite3.Error) as exc:
        return f"the run history {path} was not updated: {exc}"
    return None


def trends_table(trends: list[Trend], weeks: int = 4) -> str:
    """The trends as a table: one row per service and experiment, its last ``weeks`` weeks."""
    header = ["service", "experiment", "runs", "passed", "MTTD p50/p90", "MTTR p50/p90",
              "MTTD met", "MTTR met", f"last {weeks} weeks (pass/runs)"]  # fmt: skip
    rows = [header]
    for t in trends:
        mttd, mttr = t.stats("mttd"), t.stats("mttr")
        recent = sorted(t.weeks.items())[-weeks:]
        rows.append([
            t.service, t.experiment, str(t.runs), f"{t.targets_met:.0%}",
            _span(mttd), _span(mttr), _share(mttd["met"]), _share(mttr["met"]),
            ", ".join(f"{w[5:]} {v.get(Verdict.PASS, 0)}/{sum(v.values())}" for w, v in recent),
        ])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _row(run_id: str, service: str, started_at: str, exp: Any) -> tuple[Any, ...]:
    injected = exp.timeline.get("injected")
    cells: list[Any] = []
    for key in HEADLINE:
        simulated = key in exp.simulated
        value = None if simulated else exp.durations_s.get(key)
        target = exp.targets_s.get(key)
        judged = target is not None and injected and not simulated
        cells += [value, target, None if not judged else float(value is not None and
                                                               value <= target)]  # fmt: skip
    year, week, _ = datetime.fromisoformat(started_at).isocalendar()  # the run's week
    return (run_id, service, exp.name, exp.fault, str(exp.verdict), injected or started_at,
            f"{year}-W{week:02d}", *cells)  # fmt: skip


def _add(trend: Trend, verdict: str, started: str, week: str, cells: tuple[Any, ...]) -> None:
    trend.runs += 1
    trend.passed += verdict == Verdict.PASS
    trend.last = started
    counts = trend.weeks.setdefault(week, {})
    counts[verdict] = counts.get(verdict, 0) + 1
    for i, key in enumerate(HEADLINE):
        value, _, met = cells[3 * i: 3 * i + 3]
        if value is not None:
            trend.values.setdefault(key, []).append(value)
        if met is not None:
            trend.met.setdefault(key, []).append(bool(met))


def _filter(service: str | None, experiment: str | None) -> tuple[str, list[str]]:
    clauses, asked = [], []
    for column, value in (("service", service), ("name", experiment)):
        if value is not None:
            clauses.append(f"{column} = ?")
            asked.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), asked


def _span(stats: dict[str, float | None]) -> str:
    p50, p90 = stats["p50"], stats["p90"]
    return "-" if p50 is None or p90 is None else f"{p50:.1f}/{p90:.1f}s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
