"""Write every report of one run from its ``results.json`` and SLI series: ``junit.xml``,
``postmortem.md`` and ``report.html``. `mlchaos gameday` calls it at the end of a run, and
`mlchaos report` re-renders old runs with it, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlchaos.report.html import render_html
from mlchaos.report.junit import render_junit
from mlchaos.report.postmortem import render_postmortem
from mlchaos.report.results import read_results, write_results
from mlchaos.report.view import run_view
from mlchaos.schema.results import ResultsDocument

__all__ = ["ReportOptions", "read_results", "render_run", "write_reports"]


@dataclass(frozen=True)
class ReportOptions:
    template_dir: Path | None = None
    """A directory whose templates override the built-in ones by file name."""
    postmortem: str = "sre"
    """``sre`` (Google SRE sections) or ``pagerduty``, or NAME for postmortem-NAME.md.j2."""


def render_run(
    document: ResultsDocument, run_dir: Path, out_dir: Path, options: ReportOptions | None = None
) -> list[Path]:
    options = options or ReportOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    view = run_view(document, run_dir)
    return [
        render_junit(document, out_dir),
        render_postmortem(view, out_dir, options.template_dir, options.postmortem),
        render_html(view, out_dir, options.template_dir),
    ]


def write_reports(
    document: ResultsDocument, run_dir: Path, options: ReportOptions | None = None
) -> list[Path]:
    """All four files of a finished run, into its own directory."""
    return [write_results(document, run_dir), *render_run(document, run_dir, run_dir, options)]
