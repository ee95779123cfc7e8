"""`mlchaos runbook render`: runbooks for on-call, with the service's real URLs and commands."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import new_stack_config, service_option, state_dir_option
from mlchaos.loader import load_service
from mlchaos.rules import RuleSettings
from mlchaos.runbooks.catalogue import render_runbooks, write_runbooks

__all__ = ["render", "runbook"]


@click.group()
def runbook() -> None:
    """Runbooks per failure mode, rendered from runbooks/*.md.j2."""


@runbook.command()
@service_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option(
    "--template-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Your runbook templates; each overrides the built-in one of the same name.",
)
@click.option("--alert-prefix", default="", help="The prefix your alert names carry, if any.")
@state_dir_option
def render(
    service_file: Path | None,
    out: Path,
    template_dir: Path | None,
    alert_prefix: str,
    state_dir: Path,
) -> None:
    """Write one markdown runbook per failure mode, and index.md mapping alerts to them."""
    if service_file is not None:
        service = load_service(service_file)
    else:
        from mlchaos.reference import service as reference
        from mlchaos.reference.config import StackConfig

        cfg = StackConfig.load(state_dir) if (state_dir / "stack.json").exists() else None
        service = reference.service(cfg or new_stack_config(state_dir, ()))
    settings = RuleSettings(model=service.model, alert_prefix=alert_prefix)
    for path in write_runbooks(render_runbooks(service, settings, template_dir), out):
        click.echo(path)
