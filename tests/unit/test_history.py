"""The run history: every run appended once, trends per service and experiment computed from
what the team's systems did (a simulated duration is no figure and meets no target), weeks,
and a history file that is not one said in a line, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mlchaos.errors import InputError
from mlchaos.report.history import History, record, trends_table
from mlchaos.schema.results import ResultsDocument
from tests.unit.test_reports import document


def night(day: int, mttd: float | None, service: str = "fraud-staging",
          verdict: str = "pass", simulated: bool = False) -> ResultsDocument:  # fmt: skip
    """A run on 2026-11-DAY whose one experiment was detected after ``mttd`` seconds."""
    raw: dict[str, Any] = document(detected=mttd if mttd is not None else 2.0)
    raw["service"] = service
    raw["started_at"] = f"2026-11-{day:02d}T02:00:00+00:00"
    [exp] = raw["experiments"]
    exp["verdict"] = verdict
    exp["timeline"]["injected"] = f"2026-11-{day:02d}T02:01:00+00:00"
    if mttd is None:  # never detected: no figure, and the target was missed
        exp["durations_s"]["mttd"] = None
    if simulated:  # ended in mlchaos's doing: reported, never the team's figure
        exp["simulated"] = {"mttd": "the alert was mlchaos's own"}
    return ResultsDocument.model_validate(raw)


def test_trends_are_the_teams_own_durations_per_service_and_week(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    for day, mttd in ((2, 2.0), (3, 4.0), (9, 6.0), (10, None)):
        assert history.append(night(day, mttd, verdict="pass" if mttd else "fail"),
                              Path(f"nightly-{day}"))  # fmt: skip
    history.append(night(11, 1.0, verdict="inconclusive", simulated=True), Path("nightly-11"))
    assert not history.append(night(2, 2.0), Path("nightly-2"))  # the same run: once
    history.append(night(3, 9.0, service="payments"), Path("nightly-3"))
    [fraud, payments] = sorted(history.trends(), key=lambda t: t.service)
    assert (fraud.service, fraud.runs, fraud.passed, payments.runs) == ("fraud-staging", 5, 3, 1)
    stats = fraud.stats("mttd")  # the simulated 1.0 s of night 11 is no figure of the team's
    assert fraud.values["mttd"] == [2.0, 4.0, 6.0] and stats["p50"] == 4.0
    assert stats["p90"] == pytest.approx(5.6)
    assert stats["met"] == 0.5  # of 4 judged: 6.0 s is over the 5 s target, and one never came
    assert fraud.weeks == {"2026-W45": {"pass": 2},  # Monday 2 and Tuesday 3 November
                           "2026-W46": {"pass": 1, "fail": 1, "inconclusive": 1}}  # fmt: skip
    only = history.trends(service="payments")
    assert [t.service for t in only] == ["payments"]
    table = trends_table(history.trends(), weeks=2)
    assert "fraud-staging" in table.splitlines()[2] and "4.0/5.6s" in table
    assert "W45 2/2, W46 1/3" in table
    series = history.series("fraud-staging", "mttd")
    assert [r["values"][EXP] for r in series] == [2.0, 4.0, 6.0, None, None]


EXP = night(2, 2.0).experiments[0].name


def test_a_history_that_is_not_one_is_said_in_a_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no run history there"):
        History(tmp_path / "none.sqlite").trends()
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    with pytest.raises(InputError, match="not a run history mlchaos can read"):
        History(junk).trends()
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version=9")
    with pytest.raises(InputError, match="a run history of layout 9; this mlchaos reads layout 1"):
        History(newer).trends()
    # a game day's own reports never wait on it: the failure is a warning
    said = record(night(2, 2.0), Path("nightly-2"), junk)
    assert said is not None and said.startswith(f"the run history {junk} was not updated")
