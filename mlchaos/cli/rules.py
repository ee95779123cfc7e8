"""`mlchaos rules`: Prometheus alert rules for a model service."""

from __future__ import annotations

import click

from mlchaos.rules import RuleSettings, render_rules

__all__ = ["rules"]


@click.command()
@click.option("--model", required=True, help="The model's name, as its metrics label it.")
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
def rules(model: str, window: str, for_: str, runbook_base_url: str) -> None:
    """Print alert rules (they pass `promtool check rules`)."""
    settings = RuleSettings(
        model=model, window=window, for_=for_, runbook_base_url=runbook_base_url.rstrip("/")
    )
    click.echo(render_rules(settings), nl=False)
