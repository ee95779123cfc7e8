"""`mlchaos gameday SCENARIO`: a whole game day under load, with reports."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import gameday_options
from mlchaos.cli.execute import execute
from mlchaos.loader import load_scenario
from mlchaos.report.render import ReportOptions


@click.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--responders",
    type=click.Choice(["automated", "human"]),
    default=None,
    help="Override the scenario's responders.",
)
@gameday_options
def gameday(
    scenario: Path,
    report_dir: Path,
    responders: str | None,
    keep_stack: bool,
    service_file: Path | None,
    state_dir: Path,
    verbose: bool,
    report_options: ReportOptions,
) -> None:
    """Run SCENARIO's experiments in order under steady Locust traffic.

    Exit 0 when every target was met, 1 when one was missed, 2 on bad input, 3 when the
    infrastructure could not tell.
    """
    document, experiments = load_scenario(scenario)
    if responders:
        document = document.model_copy(
            update={"responders": document.responders.model_copy(update={"mode": responders})}
        )
    execute(
        document,
        experiments,
        report_dir,
        state_dir,
        keep_stack,
        verbose,
        service_file,
        report_options,
    )
