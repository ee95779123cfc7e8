"""`mlchaos validate FILE...`: offline checks; every problem as `file:line: field: message`."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import service_option
from mlchaos.errors import Problem, ValidationFailed
from mlchaos.loader import load_any, load_service
from mlchaos.vocabulary import Exit

__all__ = ["validate"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@service_option
def validate(files: tuple[Path, ...], service_file: Path | None) -> None:
    """Check experiment, scenario and service files without touching anything.

    Each file is validated by its own schema; with --service, experiments must also fit that
    service (the segments and versions they name). Exit 2 on any error."""
    problems: list[Problem] = []
    service = None
    try:
        service = load_service(service_file) if service_file is not None else None
    except ValidationFailed as failed:
        problems.extend(failed.problems)
    for path in files:
        try:
            load_any(path, service)
        except ValidationFailed as failed:
            problems.extend(failed.problems)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(
            f"{len(problems)} problem(s) in {len({p.file for p in problems})} file(s)", err=True
        )
        raise SystemExit(Exit.BAD_INPUT)
    click.echo(f"ok: {len(files)} file(s) valid", err=True)
