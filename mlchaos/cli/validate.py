"""`mlchaos validate FILE...`: offline checks; every problem as `file:line: field: message`."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import EXIT
from mlchaos.errors import Problem, ValidationFailed
from mlchaos.loader import load_any


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check experiment, scenario and service files without touching anything.

    Each file is validated by its own schema. Exit 2 on any error."""
    problems: list[Problem] = []
    for path in files:
        try:
            load_any(path)
        except ValidationFailed as failed:
            problems.extend(failed.problems)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(
            f"{len(problems)} problem(s) in {len({p.file for p in problems})} file(s)", err=True
        )
        raise SystemExit(EXIT["bad_input"])
    click.echo(f"ok: {len(files)} file(s) valid", err=True)
