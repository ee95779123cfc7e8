"""Write every report of one run from its ``results.json`` and SLI series: ``junit.xml``,
``postmortem.md`` and ``report.html``. `mlchaos gameday` calls it at the end of a run, and
`mlchaos report` re-renders old runs with it, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.report import svg
from mlchaos.report.html import render_html
from mlchaos.report.junit import render_junit
from mlchaos.report.postmortem import render_postmortem
from mlchaos.report.results import read_results, write_results
from mlchaos.report.view import run_view
from mlchaos.schema.results import ResultsDocument
from mlchaos.vocabulary import LABELS

__all__ = ["ReportOptions", "read_results", "render_run", "write_reports"]


@dataclass(frozen=True)
class ReportOptions:
    template_dir: Path | None = None
    """A directory whose templates override the built-in ones by file name."""
    postmortem: str = "sre"
    """``sre`` (Google SRE sections) or ``pagerduty``, or NAME for postmortem-NAME.md.j2."""
    history: Path | None = None
    """A run history (`mlchaos.report.history`): report.html draws the service's trends."""


def render_run(
    document: ResultsDocument, run_dir: Path, out_dir: Path, options: ReportOptions | None = None
) -> list[Path]:
    options = options or ReportOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    view = run_view(document, run_dir)
    return [
        render_junit(document, out_dir),
        render_postmortem(view, out_dir, options.template_dir, options.postmortem),
        render_html(view, out_dir, options.template_dir, _trends(document, options.history)),
    ]


def _trends(document: ResultsDocument, history: Path | None) -> list[dict[str, Any]]:
    """MTTD and MTTR over the service's last runs in ``history``, for report.html; none
    without a history of two runs or more (one run is no trend)."""
    if history is None or not history.is_file():
        return []
    from mlchaos.report.history import History

    found = History(history)
    service = document.service or "unnamed"
    try:
        charts = [(key, found.series(service, key)) for key in ("mttd", "mttr")]
    except MlchaosError:
        return []  # an unreadable history costs the chart, never the run's report
    return [{**svg.trend(runs, key, _targets(document, key)), "label": LABELS[key],
             "runs": len(runs), "service": service}
            for key, runs in charts if len(runs) > 1]  # fmt: skip


def _targets(document: ResultsDocument, key: str) -> list[float]:
    return [t for e in document.experiments if (t := e.targets_s.get(key)) is not None]


def write_reports(
    document: ResultsDocument, run_dir: Path, options: ReportOptions | None = None
) -> list[Path]:
    """All four files of a finished run, into its own directory."""
    return [write_results(document, run_dir), *render_run(document, run_dir, run_dir, options)]
