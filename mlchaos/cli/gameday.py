"""`mlchaos gameday SCENARIO`: a whole game day under load, with reports."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import GamedayOptions, gameday_options
from mlchaos.cli.execute import execute
from mlchaos.loader import load_scenario


@click.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--responders",
    type=click.Choice(["automated", "human"]),
    default=None,
    help="Override the scenario's responders.",
)
@gameday_options
def gameday(scenario: Path, responders: str | None, options: GamedayOptions) -> None:
    """Run SCENARIO's experiments in order under steady Locust traffic.

    Exit 0 when every target was met, 1 when one was missed, 2 on bad input, 3 when the
    infrastructure could not tell.
    """
    document, experiments = load_scenario(scenario)
    if responders:
        document = document.model_copy(
            update={"responders": document.responders.model_copy(update={"mode": responders})}
        )
    execute(document, experiments, options)
