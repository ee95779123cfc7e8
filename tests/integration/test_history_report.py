"""The run history drawn where people look: `mlchaos report RUN` writes report.html with the
service's MTTD and MTTR trends from the history beside it, laid out in a real headless
Chromium; `mlchaos history` prints them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlchaos.report.history import History
from mlchaos.report.results import write_results
from tests.chromium import measure
from tests.conftest import ROOT
from tests.unit.test_history import night

pytestmark = pytest.mark.integration


def mlchaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlchaos", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120)  # fmt: skip


def test_report_html_draws_the_services_trends_from_the_history(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    history = History(reports / "history.sqlite")
    for day, mttd in ((2, 2.0), (3, 4.5), (4, 3.0)):
        run_dir = reports / f"nightly-202611{day:02d}"
        document = night(day, mttd)
        run_dir.mkdir(parents=True)
        write_results(document, run_dir)
        history.append(document, run_dir)
    done = mlchaos("report", str(run_dir))  # the history beside it, by default
    assert done.returncode == 0, done.stderr
    page = (run_dir / "report.html").read_text()
    assert "Trends: fraud-staging, its last 3 runs" in page
    laid_out = measure(run_dir / "report.html", tmp_path)
    trends = {t["measure"]: t for t in laid_out["trends"]}
    assert set(trends) == {"mttd", "mttr"}, laid_out["trends"]
    for trend in trends.values():
        assert trend["lines"] == 1 and trend["dots"] == 3, trend  # one experiment, three runs
        assert trend["box"]["width"] > 300 and trend["box"]["height"] > 100, trend
    printed = mlchaos("history", "--history", str(reports / "history.sqlite"))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[2].split()[:4] == ["fraud-staging", "good", "3", "100%"]
    missing = mlchaos("history", "--history", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
