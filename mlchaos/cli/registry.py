"""`mlchaos registry show | promote | rollback`: the reference registry by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlchaos.cli.common import load_stack, state_dir_option
from mlchaos.observe.registry import RegistryClient

__all__ = ["promote", "registry", "rollback", "show"]


@click.group()
def registry() -> None:
    """Inspect the reference registry, promote a version or roll back."""


@registry.command()
@state_dir_option
def show(state_dir: Path) -> None:
    """Aliases, history and the audit log."""
    cfg = load_stack(state_dir)
    client = RegistryClient(cfg.url("registry"))
    model = client.model(cfg.model_name)
    click.echo(f"production {model['production']}  previous {model['previous']}")
    for entry in client.audit(cfg.model_name)[-10:]:
        click.echo(json.dumps(entry))


@registry.command()
@click.argument("version")
@click.option("--reason", default="manual promotion")
@state_dir_option
def promote(version: str, reason: str, state_dir: Path) -> None:
    """Make VERSION production."""
    cfg = load_stack(state_dir)
    answer = RegistryClient(cfg.url("registry")).promote(cfg.model_name, version, "cli", reason)
    click.echo(json.dumps(answer["audit"]))


@registry.command()
@click.option("--reason", default="manual rollback")
@state_dir_option
def rollback(reason: str, state_dir: Path) -> None:
    """Return production to the previous version."""
    cfg = load_stack(state_dir)
    answer = RegistryClient(cfg.url("registry")).rollback(cfg.model_name, "cli", reason, None)
    click.echo(json.dumps(answer["audit"]) if answer["audit"] else "nothing to roll back")
