"""`mlchaos report RUN_DIR...`: re-render one run's reports, or aggregate many runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from mlchaos.cli.common import report_options
from mlchaos.report.aggregate import aggregate, aggregate_table, render_aggregate
from mlchaos.report.history import FILE_NAME
from mlchaos.report.render import ReportOptions, read_results, render_run
from mlchaos.report.table import summary_table

__all__ = ["report"]


@click.command()
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False)
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write. One run: its own directory by default. Several: reports/aggregate.",
)
@click.option(
    "--history",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The run history whose trends report.html draws; default: history.sqlite beside "
    "RUN_DIR, if there is one.",
)
@report_options
def report(
    run_dirs: tuple[Path, ...], out: Path | None, history: Path | None,
    report_options: ReportOptions,
) -> None:  # fmt: skip
    """With one RUN_DIR, write its junit.xml, postmortem.md and report.html again from its
    results.json (offline), with the service's trends from the run history. With several,
    write aggregate.md and aggregate.html: the pass rate per experiment and MTTx trends across
    the runs."""
    documents = [read_results(d) for d in run_dirs]
    if len(run_dirs) == 1:
        found = history or run_dirs[0].parent / FILE_NAME
        options = dataclasses.replace(report_options, history=found)
        paths = render_run(documents[0], run_dirs[0], out or run_dirs[0], options)
        click.echo(summary_table(documents[0]))
    else:
        summary = aggregate(documents)
        paths = render_aggregate(
            summary, out or Path("reports/aggregate"), report_options.template_dir
        )
        click.echo(aggregate_table(summary))
    click.echo("\nreports: " + "\n         ".join(str(p) for p in paths))
