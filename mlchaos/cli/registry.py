"""`mlchaos registry show | promote | rollback`: the registry by hand, through the service file's
adapter (the reference registry, or an MLflow alias and the team's deploy step)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlchaos.cli.common import load_stack, say, service_option, state_dir_option
from mlchaos.engine.baseline import served_versions
from mlchaos.errors import InputError, MlchaosError
from mlchaos.hooks import run_hook
from mlchaos.loader import load_service
from mlchaos.observe import adapters
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.service import Service

__all__ = ["ACTOR", "promote", "registry", "rollback", "show"]

ACTOR = "cli"


@click.group()
def registry() -> None:
    """Inspect the registry, put a version in production or roll back."""


@registry.command()
@service_option
@state_dir_option
def show(service_file: Path | None, state_dir: Path) -> None:
    """What production is, what the gateway sees served, any mlchaos lease, the audit log."""
    service = _service(service_file, state_dir)
    model = adapters.registry(service).model(service.model)
    click.echo(f"production {model['production']}  previous {model.get('previous')}")
    if model.get("fallback"):
        click.echo("the fallback answers in production's place")
    try:
        click.echo(f"served {', '.join(sorted(served_versions(service))) or 'nothing lately'}")
    except MlchaosError as exc:
        click.echo(f"served: cannot tell ({exc})")
    if service.adapters.registry == "mlflow":
        assert service.registry_url is not None
        lease = MlflowAliases(service.registry_url).lease(service.model)
        click.echo(f"mlchaos lease {json.dumps(lease)}" if lease else "no mlchaos lease")
    for entry in adapters.registry(service).audit(service.model)[-10:]:
        click.echo(json.dumps(entry))


@registry.command()
@click.argument("version")
@click.option("--reason", default="manual promotion")
@service_option
@state_dir_option
def promote(version: str, reason: str, service_file: Path | None, state_dir: Path) -> None:
    """Put VERSION in production (the fallback off), then run the service's deploy step."""
    service = _service(service_file, state_dir)
    changed = adapters.registry(service).restore(service.model, version, ACTOR, reason)
    if service.deploy_hook is not None:
        run_hook(service.deploy_hook, "the deploy step", service.hook_dir)
        say("ran the deploy step")
    for entry in changed:
        click.echo(json.dumps(entry))
    if not changed:
        click.echo(f"{service.model} already serves {version}: nothing changed")


@registry.command()
@click.option("--reason", default="manual rollback")
@service_option
@state_dir_option
def rollback(reason: str, service_file: Path | None, state_dir: Path) -> None:
    """Return production to the previous version (the reference registry keeps the history)."""
    service = _service(service_file, state_dir)
    if service.adapters.registry == "mlflow":
        raise InputError(
            "an MLflow alias keeps no previous version: `mlchaos registry --service FILE "
            "promote VERSION` names the one to serve"
        )
    answer = adapters.registry(service).rollback(service.model, ACTOR, reason, None)
    click.echo(json.dumps(answer["audit"]) if answer["audit"] else "nothing to roll back")


def _service(service_file: Path | None, state_dir: Path) -> Service:
    if service_file is not None:
        service = load_service(service_file)
    else:
        from mlchaos.reference import service as reference

        service = reference.service(load_stack(state_dir))
    if service.registry_url is None:
        raise InputError("the service file names no registry (endpoints.registry)")
    return service
