"""`mlchaos recover`: undo faults that a dead run left behind, from its journal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlchaos.cli.common import load_stack, say, service_option, state_dir_option
from mlchaos.faults.leases import ACTOR, revert_all
from mlchaos.faults.targets import mlflow, mlflow_build
from mlchaos.journal import Journal
from mlchaos.loader import load_service
from mlchaos.observe import adapters
from mlchaos.observe.adapters import ModelRegistry, TrafficFaults
from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.registry import RegistryClient
from mlchaos.rundir import OPEN_RUNS, RunDir, open_run_dirs
from mlchaos.service import Service

if TYPE_CHECKING:
    from mlchaos.reference.config import StackConfig

__all__ = ["recover"]


@click.command()
@state_dir_option
@service_option
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports"),
    show_default=True,
    help="Where runs against a --service staging wrote their reports (and registered).",
)
@click.option(
    "--journal",
    "journals",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A run journal to recover from; default: every run that did not finish.",
)
def recover(
    state_dir: Path, service_file: Path | None, report_dir: Path, journals: tuple[Path, ...]
) -> None:
    """Revert every fault lease that no run ended, then any mlchaos still holds anywhere.

    Runs against your own staging (`--service`) register beside their reports (--report-dir):
    their journals are recovered through the targets that made each lease, with no reference stack
    (an MLflow alias lease reads what its keeper did, or undoes it now). With --service, the
    staging's own gateway and registry are swept too, for leases no journal names (a run
    whose folder was deleted)."""
    service = load_service(service_file) if service_file is not None else None
    cfg = load_stack(state_dir) if (state_dir / "stack.json").exists() else None
    registered = [*open_run_dirs(state_dir / "runs"), *open_run_dirs(report_dir / OPEN_RUNS)]
    paths = list(journals) or [path for _, run in registered for path in run.journals()]
    reverted = already = 0
    for path in paths:
        for audit in revert_all(Journal(path)):
            if _reverted_now(audit):
                reverted += 1
                say(f"reverted from {path}: {audit['action']} by {audit['actor']} at {audit['at']}")
            else:  # its TTL ran out, or someone else undid it: nothing was left to revert
                already += 1
                say(
                    f"already ended, nothing to revert ({path}): {audit['action']} by "
                    f"{audit['actor']} at {audit['at']}"
                )
    if service is not None:
        reverted += _sweep_service(service)
    elif cfg is not None:  # the reference stack's own leases, whoever's run took them
        reverted += _sweep(cfg)
    for marker, _ in registered:
        RunDir.unregister(marker)
    ended = f"; {already} had already ended by themselves" if already else ""
    say(f"recovered: {reverted} fault(s) reverted now{ended}" if reverted else
        f"nothing to recover{ended}")  # fmt: skip


def _sweep(cfg: StackConfig) -> int:
    return _sweep_targets(RegistryClient(cfg.url("registry")), GatewayClient(cfg.url("gateway")))


def _sweep_service(service: Service) -> int:
    """The staging's gateway, and its registry: the reference registry's leases, or the lease
    an MLflow registered model carries in its tag (found with no run folder and no keeper)."""
    registry = adapters.registry(service) if service.registry_url else None
    swept = _sweep_targets(registry, adapters.traffic(service))
    if service.registry_url and service.adapters.registry == "mlflow":
        swept += _sweep_mlflow(service, service.registry_url)
    names = set(service.versions.bad.values()) | set(service.versions.segment.values())
    if registry is not None and names:
        serving = str(registry.model(service.model).get("production"))
        if serving in names:
            say(f"warning: {service.model} serves version {serving}, a bad version of the "
                "service file, and no lease says mlchaos put it there: not moved")  # fmt: skip
    return swept


def _sweep_mlflow(service: Service, url: str) -> int:
    swept = _sweep_mlflow_lease(service, url)
    for stray in mlflow_build.strays(url, service.model, int(time.time() * 1000)):
        done = mlflow_build.remove_copy(url, service.model, stray)
        say(f"a build mlchaos registered and no lease names ({stray['of']}, version "
            f"{stray['version']}): {', '.join(done) or 'already gone'}")  # fmt: skip
        swept += 1
    return swept


def _sweep_mlflow_lease(service: Service, url: str) -> int:
    lease = mlflow.orphans(url, service.model)
    if lease is None:
        return 0
    keeper = "its keeper still runs" if lease["keeper_alive"] else "its keeper is gone"
    say(
        f"MLflow carries mlchaos lease {lease.get('id')} on {service.model}: "
        f"{lease.get('alias')} moved to {lease.get('version')} from {lease.get('replaced')} "
        f"until {lease.get('expires')}; {keeper}"
    )
    ended = mlflow.end_orphan(
        url, service.model, service.deploy_hook, "recover", hook_dir=service.hook_dir, say=say
    )
    if ended is None:
        return 0
    say(f"ended it: {ended.get('reason', ended.get('action'))}")
    return 1


def _sweep_targets(registry: ModelRegistry | None, gateway: TrafficFaults) -> int:
    swept = 0
    for lease in registry.leases() if registry is not None else []:
        assert registry is not None
        if lease["holder"] == ACTOR and registry.release(lease["id"], "recover"):
            swept += 1
            say(f"released lease {lease['id']} on {lease['model']} {lease['version']}")
    for fault in gateway.faults():
        if fault["holder"] == ACTOR and gateway.end(fault["id"], "recover"):
            swept += 1
            say(f"ended gateway lease {fault['id']} ({fault['type']})")
    return swept


def _reverted_now(audit: dict[str, object]) -> bool:
    """Whether this call undid the fault, rather than finding it already undone."""
    return audit["actor"] == ACTOR and audit["action"] not in ("already undone", "already ended")
