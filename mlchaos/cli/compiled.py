"""`mlchaos compile EXPERIMENT`: the Chaos Toolkit experiment mlchaos would run, as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlchaos.cli.common import reference_service, service_option, state_dir_option
from mlchaos.cli.execute import guard_production
from mlchaos.engine.compile import Sources, compile_experiment
from mlchaos.loader import load_experiment, load_service

__all__ = ["compile_command"]


@click.command("compile")
@click.argument("experiment", type=click.Path(path_type=Path, dir_okay=False))
@service_option
@state_dir_option
@click.option(
    "--journal",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("mlchaos-journal.jsonl"),
    show_default=True,
    help="Where the activities journal what happened (configuration.mlchaos_journal).",
)
@click.option("--allow-production", is_flag=True, help="See `mlchaos run --help`.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
def compile_command(
    experiment: Path, service_file: Path | None, state_dir: Path, journal: Path,
    allow_production: bool, out: Path | None,
) -> None:  # fmt: skip
    """Print (or write to --out) EXPERIMENT compiled for Chaos Toolkit against --service
    (default: the reference stack), for `chaos run --rollback-strategy=always`. Checked as
    `mlchaos run` checks it: a name the service lacks is exit 2 at its line, now and again
    when `chaos run` starts, should either file have changed since."""
    if service_file is not None:
        service = load_service(service_file)
        guard_production(service, service_file, allow_production)
    else:
        service = reference_service(state_dir)
    document = load_experiment(experiment, service)
    sources = Sources(experiment.resolve(), service_file.resolve() if service_file else None)
    text = json.dumps(compile_experiment(document, service, journal, sources), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}: chaos run --rollback-strategy=always {out}", err=True)
