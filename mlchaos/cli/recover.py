"""`mlchaos recover`: undo faults that a dead run left behind, from its journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlchaos.cli.common import load_stack, say, state_dir_option
from mlchaos.faults.leases import ACTOR, revert_all
from mlchaos.journal import Journal
from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.registry import RegistryClient

if TYPE_CHECKING:
    from mlchaos.reference.config import StackConfig

__all__ = ["recover"]


@click.command()
@state_dir_option
@click.option(
    "--journal",
    "journals",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A run journal to recover from; default: every run that did not finish.",
)
def recover(state_dir: Path, journals: tuple[Path, ...]) -> None:
    """Revert every fault lease that no run ended, then any mlchaos still holds anywhere.

    Runs against your own staging (`--service`) register under the state dir too: their
    journals are recovered through the targets that made each lease, with no reference stack
    (an MLflow alias lease reads what its keeper did, or undoes it now)."""
    cfg = load_stack(state_dir) if (state_dir / "stack.json").exists() else None
    paths = list(journals) or _open_run_journals(state_dir / "runs")
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
    if cfg is not None:  # the reference stack's own leases, whoever's run took them
        reverted += _sweep(cfg)
    for marker in (state_dir / "runs").glob("*.json"):
        marker.unlink()
    ended = f"; {already} had already ended by themselves" if already else ""
    say(f"recovered: {reverted} fault(s) reverted now{ended}" if reverted else
        f"nothing to recover{ended}")  # fmt: skip


def _sweep(cfg: StackConfig) -> int:
    swept = 0
    registry = RegistryClient(cfg.url("registry"))
    for lease in registry.leases():
        if lease["holder"] == ACTOR and registry.release(lease["id"], "recover"):
            swept += 1
            say(f"released lease {lease['id']} on {lease['model']} {lease['version']}")
    gateway = GatewayClient(cfg.url("gateway"))
    for fault in gateway.faults():
        if fault["holder"] == ACTOR and gateway.end(fault["id"], "recover"):
            swept += 1
            say(f"ended gateway lease {fault['id']} ({fault['type']})")
    return swept


def _reverted_now(audit: dict[str, object]) -> bool:
    """Whether this call undid the fault, rather than finding it already undone."""
    return audit["actor"] == ACTOR and audit["action"] not in ("already undone", "already ended")


def _open_run_journals(runs: Path) -> list[Path]:
    found = []
    for marker in sorted(runs.glob("*.json")):
        run_dir = Path(json.loads(marker.read_text())["run_dir"])
        found.extend(sorted((run_dir / "journals").glob("*.jsonl")))
    return found
