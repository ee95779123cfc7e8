"""`mlchaos up | status | down`: the reference staging stack on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from mlchaos.cli.common import load_stack, new_stack_config, say, state_dir_option
from mlchaos.vocabulary import Exit

__all__ = ["down", "status", "up"]


@click.command()
@state_dir_option
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=PORT",
    help="Override a component's port, e.g. --port prometheus=29090. Repeatable.",
)
def up(state_dir: Path, ports: tuple[str, ...]) -> None:
    """Start the reference stack: model server, registry, PagerDuty receiver, rollback
    controller, Prometheus and Alertmanager."""
    from mlchaos.reference import supervisor

    started = time.monotonic()
    cfg = new_stack_config(state_dir, ports)
    statuses = supervisor.up(cfg, progress=lambda line: say(f"  {line}"))
    say(f"stack ready in {time.monotonic() - started:.1f}s (state in {cfg.state_dir})", fg="green")
    for s in statuses:
        click.echo(f"{s.name:<20} {s.url}")


@click.command()
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(state_dir: Path, as_json: bool) -> None:
    """Each component's URL, process and health. Exit 3 if any is unhealthy."""
    from mlchaos.reference import supervisor

    cfg = load_stack(state_dir)
    statuses = supervisor.status(cfg)
    if as_json:
        body = {s.name: {"url": s.url, "pid": s.pid, "healthy": s.healthy} for s in statuses}
        click.echo(json.dumps({"state_dir": str(cfg.state_dir), "components": body}, indent=2))
    else:
        for s in statuses:
            health = (
                click.style("healthy", fg="green") if s.healthy else click.style("DOWN", fg="red")
            )
            click.echo(f"{s.name:<20} {health:<8} {s.url:<28} pid {s.pid or '-'}")
    if not all(s.healthy for s in statuses):
        raise SystemExit(Exit.INCONCLUSIVE)


@click.command()
@state_dir_option
def down(state_dir: Path) -> None:
    """Stop every process of the reference stack."""
    from mlchaos.reference import supervisor

    if not (state_dir / "stack.json").exists():
        say(f"no stack in {state_dir}; nothing to stop")
        return
    stopped = supervisor.down(load_stack(state_dir))
    say(f"stopped {', '.join(stopped) if stopped else 'nothing (no process was running)'}")
