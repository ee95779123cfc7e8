"""`mlchaos history`: the trends of every game day appended to the run history, per service
and experiment."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.report.history import FILE_NAME, History, trends_table

__all__ = ["history"]


@click.command()
@click.option(
    "--history",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("reports") / FILE_NAME,
    show_default=True,
    help="The run history to read (what `gameday --history` wrote).",
)
@click.option("--service", default=None, help="Only this service (its service file's name).")
@click.option("--experiment", default=None, help="Only this experiment.")
@click.option(
    "--weeks", type=click.IntRange(1, 520), default=4, show_default=True,
    help="How many recent weeks of verdicts to show.",
)  # fmt: skip
def history(path: Path, service: str | None, experiment: str | None, weeks: int) -> None:
    """Trends per service and experiment across every run in the history: runs, the share
    that met every target, MTTD and MTTR p50/p90 (the team's own: simulated durations left
    out), how often each met its target, and the verdicts of the last weeks."""
    found = History(path).trends(service, experiment)
    if not found:
        pairs = (("service", service), ("experiment", experiment))
        asked = " and ".join(f"{k} {v}" for k, v in pairs if v)
        click.echo(f"{path}: no runs{f' of {asked}' if asked else ''}")
        return
    click.echo(trends_table(found, weeks))
