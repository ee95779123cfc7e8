"""`mlchaos rules`: Prometheus alert rules for a model service."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import service_option
from mlchaos.errors import InputError
from mlchaos.loader import load_service
from mlchaos.rules import RuleSettings, render_rules

__all__ = ["rules"]


@click.command()
@click.option("--model", help="The model's name, as its metrics label it.")
@service_option
@click.option(
    "--window",
    default=RuleSettings.window,
    show_default=True,
    help="Rate window; at least two scrape intervals.",
)
@click.option(
    "--for",
    "for_",
    default=RuleSettings.for_,
    show_default=True,
    help="How long a condition must hold before the alert fires.",
)
@click.option("--runbook-base-url", default=RuleSettings.runbook_base_url, show_default=True)
def rules(
    model: str | None, service_file: Path | None, window: str, for_: str, runbook_base_url: str
) -> None:
    """Print alert rules (they pass `promtool check rules`) for --model, or for the model a
    --service file names. There is no default: rules for a model you do not serve never fire."""
    if service_file is not None:
        model = model or load_service(service_file).model
    if not model:
        raise InputError(
            "give --model NAME or --service FILE: whose requests should the rules watch?"
        )
    settings = RuleSettings(
        model=model, window=window, for_=for_, runbook_base_url=runbook_base_url.rstrip("/")
    )
    click.echo(render_rules(settings), nl=False)
