"""What every command shares: the state-directory option, progress output, exit codes."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mlchaos.report.render import ReportOptions

if TYPE_CHECKING:  # the reference stack is an extra: imported where a command needs it
    from mlchaos.reference.config import StackConfig
    from mlchaos.service import Service

__all__ = [
    "F",
    "GamedayOptions",
    "ProgressFormatter",
    "default_state_dir",
    "gameday_options",
    "load_stack",
    "new_stack_config",
    "reference_service",
    "report_options",
    "say",
    "show_progress",
]

F = TypeVar("F", bound=Callable[..., Any])



def default_state_dir() -> Path:
    return Path(os.environ.get("MLCHAOS_STATE_DIR", ".mlchaos/stack"))


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=default_state_dir,
    show_default=".mlchaos/stack, or $MLCHAOS_STATE_DIR",
    help="Where the reference stack keeps its state, configs and logs.",
)


service_option = click.option(
    "--service",
    "service_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A service file naming your own staging stack; default: the reference stack.",
)


@dataclass(frozen=True)
class GamedayOptions:
    """What `run` and `gameday` share: where reports go, which stack, how loud."""

    report_dir: Path
    keep_stack: bool
    service_file: Path | None
    state_dir: Path
    verbose: bool
    runbook_dir: Path | None
    allow_production: bool
    history: Path | None
    report: ReportOptions

    def history_file(self) -> Path:
        """Where this run is appended: --history, else REPORT_DIR/history.sqlite."""
        from mlchaos.report.history import FILE_NAME

        return self.history or self.report_dir / FILE_NAME


def gameday_options(command: F) -> F:
    """Adds the shared options and hands them to the command as one ``options``."""

    @functools.wraps(command)
    def wrapper(*args: Any, report_options: ReportOptions, **kwargs: Any) -> Any:
        names = ("report_dir", "keep_stack", "service_file", "state_dir", "verbose", "runbook_dir",
                 "allow_production", "history")  # fmt: skip
        shared = {name: kwargs.pop(name) for name in names}
        return command(*args, options=GamedayOptions(**shared, report=report_options), **kwargs)

    decorators = [
        click.option(
            "--report-dir",
            type=click.Path(path_type=Path),
            default=Path("reports"),
            show_default=True,
            help="Each run writes NAME-TIMESTAMP/ under it.",
        ),
        click.option(
            "--keep-stack", is_flag=True, help="Leave a reference stack this run started running."
        ),
        service_option,
        click.option(
            "--runbook-dir",
            type=click.Path(path_type=Path, file_okay=False, exists=True),
            default=None,
            help="Your runbook templates; each overrides the built-in one of the same name.",
        ),
        state_dir_option,
        click.option(
            "--allow-production",
            is_flag=True,
            help="Run against a service file that declares environment: production.",
        ),
        click.option(
            "--history",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="The run history (SQLite) this run is appended to; default: the scenario's "
            "history, else REPORT_DIR/history.sqlite.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Also show Chaos Toolkit's log."),
        report_options,
    ]
    decorated: Any = wrapper
    for decorate in reversed(decorators):
        decorated = decorate(decorated)
    return decorated  # type: ignore[no-any-return]


def report_options(command: F) -> F:
    """``--template-dir`` and ``--postmortem``, handed to the command as ``report_options``."""

    @functools.wraps(command)
    def wrapper(*args: Any, template_dir: Path | None, postmortem: str, **kwargs: Any) -> Any:
        options = ReportOptions(template_dir=template_dir, postmortem=postmortem)
        return command(*args, report_options=options, **kwargs)

    wrapper = click.option(
        "--template-dir",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        default=None,
        help="Your templates; each overrides the built-in one of the same file name.",
    )(wrapper)
    wrapper = click.option(
        "--postmortem",
        default="sre",
        show_default=True,
        help="Postmortem template: sre (Google SRE sections), pagerduty, or NAME for "
        "postmortem-NAME.md.j2 in --template-dir.",
    )(wrapper)
    return wrapper  # type: ignore[return-value]


def load_stack(state_dir: Path) -> StackConfig:
    from mlchaos.errors import StackError
    from mlchaos.reference.config import StackConfig

    if not (state_dir / "stack.json").exists():
        raise StackError(f"no reference stack in {state_dir}; start one with `mlchaos up`")
    return StackConfig.load(state_dir)


def reference_service(state_dir: Path) -> Service:
    """The reference stack's service, running or not: its segments, versions and pager,
    which experiments must fit, do not depend on whether (or on which ports) it runs."""
    from mlchaos.reference import service as reference
    from mlchaos.reference.config import StackConfig

    known = (state_dir / "stack.json").exists()
    return reference.service(
        StackConfig.load(state_dir) if known else StackConfig(state_dir=state_dir)
    )


def new_stack_config(state_dir: Path, ports: tuple[str, ...]) -> StackConfig:
    """A config with ``--port name=PORT`` overrides applied."""
    from mlchaos.errors import InputError
    from mlchaos.reference.config import DEFAULT_PORTS, StackConfig

    chosen = dict(DEFAULT_PORTS)
    for item in ports:
        name, _, value = item.partition("=")
        if name not in chosen or not value.isdigit():
            known = ", ".join(chosen)
            raise InputError(f"--port {item}: expected NAME=PORT with NAME one of {known}")
        chosen[name] = int(value)
    return StackConfig(state_dir=state_dir.resolve(), ports=chosen)


class ProgressFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def show_progress(verbose: bool = False) -> None:
    """Print mlchaos progress lines to stderr; keep chaoslib's own log quiet unless verbose."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ProgressFormatter())
    progress = logging.getLogger("mlchaos.progress")
    progress.handlers[:] = [handler]
    progress.setLevel(logging.INFO)
    progress.propagate = False
    chaos = logging.getLogger("chaostoolkit")
    chaos.setLevel(logging.INFO if verbose else logging.CRITICAL + 1)  # our verdicts, not its
    if verbose:
        chaos.addHandler(handler)


def say(message: str, **style: Any) -> None:
    click.echo(click.style(message, **style) if style else message, err=True)
