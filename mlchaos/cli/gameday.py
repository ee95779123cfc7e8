"""`mlchaos gameday SCENARIO`: a whole game day under load, with reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from mlchaos.cli.common import GamedayOptions, gameday_options
from mlchaos.cli.execute import execute, target_service
from mlchaos.cli.services import execute_services
from mlchaos.loader import load_plan

__all__ = ["gameday"]


@click.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--responders",
    type=click.Choice(["automated", "human"]),
    default=None,
    help="Override the scenario's responders.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True, max=100_000),
    default=None,
    help="Override the scenario's requests per second (the machine's capacity decides it).",
)
@click.option(
    "--users", type=click.IntRange(1, 1000), default=None, help="Override the scenario's users."
)
@click.option(
    "--load-workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Override the scenario's load.workers: Locust worker processes under a master.",
)
@gameday_options
def gameday(
    scenario: Path,
    responders: str | None,
    rate: float | None,
    users: int | None,
    load_workers: int | None,
    options: GamedayOptions,
) -> None:
    """Run SCENARIO's experiments in order under steady Locust traffic. Entries that name a
    service file of their own run as that service's game day (in turn, or at the same time
    with ``parallel: true``), reported together, grouped by service.

    Exit 0 when every target was met, 1 when one was missed, 2 on bad input, 3 when the
    infrastructure could not tell.
    """
    service = target_service(options)
    document, planned = load_plan(scenario, service)
    if responders:
        document = document.model_copy(
            update={"responders": document.responders.model_copy(update={"mode": responders})}
        )
    overrides = {"rate": rate, "users": users, "workers": load_workers}
    load = {k: v for k, v in overrides.items() if v is not None}
    if load:
        document = document.model_copy(update={"load": document.load.model_copy(update=load)})
    if options.history is None and document.history is not None:
        options = dataclasses.replace(options, history=scenario.parent / document.history)
    if document.many_services:  # each service's experiments as a game day of its own
        execute_services(document, planned, options, service.name)
    execute(document, [p.experiment for p in planned], service, options)
