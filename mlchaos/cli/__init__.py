"""The `mlchaos` command. Each subcommand lives in its own module and calls the library.

Library errors become one line and a documented exit code here, at the edge:
0 pass, 1 fail, 2 bad input, 3 inconclusive (the infrastructure could not tell).
"""

from __future__ import annotations

import sys

import click

from mlchaos.cli import (
    ack,
    compiled,
    doctor,
    gameday,
    gateway,
    history,
    init,
    receiver,
    recover,
    registry,
    report,
    rules,
    run,
    runbook,
    schema,
    stack,
    validate,
)
from mlchaos.errors import InputError, MlchaosError
from mlchaos.vocabulary import Exit

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlchaos")
def cli() -> None:
    """Chaos game days for ML services: inject model faults, then measure detection, paging,
    rollback and recovery against your MTTx targets."""


for command in (
    stack.up,
    stack.status,
    stack.down,
    validate.validate,
    schema.schema,
    doctor.doctor,
    init.init,
    run.run,
    compiled.compile_command,
    gameday.gameday,
    report.report,
    history.history,
    gateway.gateway,
    receiver.receiver,
    recover.recover,
    ack.ack,
    rules.rules,
    runbook.runbook,
    registry.registry,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(Exit.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(Exit.BAD_INPUT)
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Exit.BAD_INPUT)
    except MlchaosError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Exit.INCONCLUSIVE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(Exit.INTERRUPTED)
    # click returns the command's return value in standalone_mode=False
