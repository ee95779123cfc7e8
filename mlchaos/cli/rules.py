"""`mlchaos rules`: Prometheus alert rules for a model service."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import service_option
from mlchaos.errors import InputError
from mlchaos.loader import load_service
from mlchaos.rules import RuleSettings, render_rule_tests, render_rules
from mlchaos.schema.slo import SloSpec

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
@click.option(
    "--tests",
    "tests_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write rules.yml and rules.test.yml (promtool test rules) of the SLOs' burn-rate "
    "alerts into this folder.",
)
def rules(
    model: str | None, service_file: Path | None, window: str, for_: str, runbook_base_url: str,
    tests_dir: Path | None,
) -> None:  # fmt: skip
    """Print alert rules (they pass `promtool check rules`) for --model, or for the model a
    --service file names, with the recording rules and multiwindow, multi-burn-rate alerts of
    the SLOs it declares. There is no default: rules for a model you do not serve never fire."""
    slos: tuple[SloSpec, ...] = ()
    if service_file is not None:
        service = load_service(service_file)
        model, slos = model or service.model, service.slos
    if not model:
        raise InputError(
            "give --model NAME or --service FILE: whose requests should the rules watch?"
        )
    settings = RuleSettings(
        model=model, window=window, for_=for_, runbook_base_url=runbook_base_url.rstrip("/")
    )
    text = render_rules(settings, slos)
    if tests_dir is None:
        click.echo(text, nl=False)
        return
    if not slos:
        raise InputError("--tests tests SLO burn-rate alerts: the service file declares no slos")
    tests_dir.mkdir(parents=True, exist_ok=True)
    (tests_dir / "rules.yml").write_text(text)
    (tests_dir / "rules.test.yml").write_text(render_rule_tests(settings, slos, "rules.yml"))
    click.echo(f"wrote {tests_dir / 'rules.yml'} and {tests_dir / 'rules.test.yml'}: "
               f"promtool test rules {tests_dir / 'rules.test.yml'}", err=True)  # fmt: skip
