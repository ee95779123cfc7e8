"""`mlchaos run EXPERIMENT`: one experiment, under the default load, with reports."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import gameday_options
from mlchaos.cli.execute import execute
from mlchaos.loader import load_experiment
from mlchaos.report.render import ReportOptions
from mlchaos.schema import Load, Scenario


@click.command()
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option(
    "--rate",
    type=float,
    default=Load().rate,
    show_default=True,
    help="Requests per second of Locust traffic during the experiment.",
)
@click.option("--users", type=int, default=Load().users, show_default=True)
@gameday_options
def run(
    experiment: Path,
    report_dir: Path,
    rate: float,
    users: int,
    keep_stack: bool,
    service_file: Path | None,
    state_dir: Path,
    verbose: bool,
    report_options: ReportOptions,
) -> None:
    """Run one EXPERIMENT. Exit codes as for `gameday`."""
    document = load_experiment(experiment)
    scenario = Scenario(
        name=document.name,
        experiments=(str(experiment),),
        load=Load(users=users, rate=rate),
    )
    execute(
        scenario,
        [document],
        report_dir,
        state_dir,
        keep_stack,
        verbose,
        service_file,
        report_options,
    )
