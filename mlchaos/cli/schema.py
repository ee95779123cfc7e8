"""`mlchaos schema KIND`: the JSON Schema of a file mlchaos reads or writes."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.schema.published import KINDS, Kind, schema_text

__all__ = ["schema"]


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write it to this file instead of printing it.",
)
def schema(kind: Kind, out: Path | None) -> None:
    """Print the JSON Schema (2020-12) of an experiment, scenario, service or runbook file,
    or of results.json: made from the models mlchaos validates with, with each field's
    description. Point an editor at it (`# yaml-language-server: $schema=...`), or check
    files and results in CI (`check-jsonschema --schemafile`)."""
    text = schema_text(kind)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}", err=True)
