"""`mlchaos doctor [EXPERIMENT|SCENARIO...]`: is a staging ready for a game day?"""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import load_stack, service_option, state_dir_option
from mlchaos.engine.doctor import diagnose
from mlchaos.loader import load_any, load_experiment, load_plan, load_service
from mlchaos.schema import Experiment
from mlchaos.vocabulary import Exit

__all__ = ["doctor"]


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@service_option
@state_dir_option
def doctor(files: tuple[Path, ...], service_file: Path | None, state_dir: Path) -> None:
    """Check, without injecting anything, that every part a game day needs answers: each
    endpoint and its credentials, the pager, the registry, one request of the payload, the
    hooks; and for each experiment (or each experiment of a scenario) that its alert is a
    loaded rule, its steady-state queries return data and hold now, and its targets are above
    the pipeline's floor. One line per check, with the fix; exit 1 if any check fails."""
    if service_file is not None:
        service = load_service(service_file)
    else:
        from mlchaos.reference import service as reference

        service = reference.service(load_stack(state_dir))
    groups: dict[Path | None, list[Experiment]] = {None: []}
    for path in files:  # a scenario's experiments each against the service they run on
        if load_any(path, service) == "scenario":
            for planned in load_plan(path, service)[1]:
                groups.setdefault(planned.service_file, []).append(planned.experiment)
        else:
            groups[None].append(load_experiment(path, service))
    failed = 0
    if not groups[None] and len(groups) > 1:
        del groups[None]  # every experiment runs on a service file of its own
    for file, experiments in groups.items():
        if file is not None or len(groups) > 1:
            click.echo(f"## {file or service_file or 'the reference stack'}")
        for check in diagnose(service if file is None else load_service(file), experiments):
            click.echo(check.line)
            failed += check.status == "FAIL"
    if failed:
        click.echo(f"{failed} check(s) failed", err=True)
        raise SystemExit(Exit.FAIL)
    click.echo("ready for a game day", err=True)
