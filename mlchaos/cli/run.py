"""`mlchaos run EXPERIMENT`: one experiment, under the default load, with reports."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import GamedayOptions, gameday_options
from mlchaos.cli.execute import execute, target_service
from mlchaos.loader import load_experiment
from mlchaos.schema import Load, Scenario

__all__ = ["run"]


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
@click.option(
    "--load-workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Locust worker processes under a master (0: one Locust process).",
)
@gameday_options
def run(
    experiment: Path, rate: float, users: int, load_workers: int, options: GamedayOptions
) -> None:
    """Run one EXPERIMENT. Exit codes as for `gameday`."""
    service = target_service(options)
    document = load_experiment(experiment, service)
    scenario = Scenario(
        name=document.name,
        experiments=(str(experiment),),
        load=Load(users=users, rate=rate, workers=load_workers),
    )
    execute(scenario, [document], service, options)
