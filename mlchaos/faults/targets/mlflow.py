"""Bad versions through an MLflow registry: move the alias that says what serves
(``versions.alias``, such as ``champion``) to the version the fault names, then run the team's
deploy step. The lease is kept by a detached keeper (`mlchaos.faults.keeper`) that points the
alias back and deploys again when the TTL runs out, even after a `kill -9` of the runner.

Order, so that nothing is left unrecorded: the undo goes in the journal, the lease file is
written and its keeper started (and seen alive), and only then does the alias move.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.faults.keeper import done_file, locked, undo
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.hooks import run_hook
from mlchaos.journal import Journal
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.service import Service

__all__ = ["KEEPER_START_S", "TARGET", "end_lease", "inject", "lease_dir"]

TARGET = "mlflow"
KEEPER_START_S = 10.0


def lease_dir(journal: Journal) -> Path:
    return journal.path.parent / "leases"


def inject(journal: Journal, service: Service, fault_type: str, model: str, version: str,
           ttl_s: float) -> str:  # fmt: skip
    """Point the alias at ``version`` and deploy it; return the lease id."""
    if service.registry_url is None:
        raise TargetError(f"{fault_type} needs a registry: set endpoints.registry")
    aliases, alias = MlflowAliases(service.registry_url), service.versions.alias
    replaced = aliases.version_of(model, alias)
    if not aliases.has_version(model, version):
        raise TargetError(f"the MLflow registry has no version {version} of {model}")
    if replaced == version:
        raise TargetError(f"{model}@{alias} already names version {version}: nothing to inject")
    lease_id, expires_at = uuid.uuid4().hex[:12], time.time() + ttl_s
    lease_file = lease_dir(journal) / f"{lease_id}.json"
    lease = {
        "id": lease_id,
        "url": service.registry_url,
        "model": model,
        "alias": alias,
        "version": version,
        "replaced": replaced,
        "expires_at": expires_at,
        "deploy": service.deploy_hook.model_dump(mode="json") if service.deploy_hook else None,
        "hook_dir": str(service.hook_dir) if service.hook_dir else None,
    }
    intent = record_intent(
        journal, TARGET,
        undo=f"point {model}@{alias} back at version {replaced}, then run the deploy step",
        lease_file=str(lease_file), url=service.registry_url, kind="mlflow", model=model,
        version=version, ttl_s=ttl_s,
    )  # fmt: skip
    _write_private(lease_file, json.dumps(lease))
    _start_keeper(lease_file)
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat()
    record_granted(journal, intent, lease_id, expires)
    aliases.point(model, alias, version)
    moved = datetime.now(UTC).isoformat()
    if service.deploy_hook is not None:
        run_hook(service.deploy_hook, "the deploy step", service.hook_dir)
    # Injected once deployed: from then on the version serves, and the clocks start.
    detail = {"model": model, "version": version, "replaced": replaced, "alias": alias,
              "alias_moved_at": moved}  # fmt: skip
    source = "MLflow registry (alias moved" + (", deploy step run)" if service.deploy_hook else ")")
    record_injected(journal, datetime.now(UTC).isoformat(), source, detail)
    return lease_id


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    """Undo now, unless the keeper already did (then its record says what it did)."""
    lease_file = Path(intent["lease_file"])
    if not lease_file.exists():  # the alias never moved: the lease file comes first
        return {
            "action": "never injected",
            "at": datetime.now(UTC).isoformat(),
            "actor": ACTOR,
            "reason": "the lease was recorded but the alias was never moved",
        }
    with locked(lease_file) as lease:
        if lease is None:
            return dict(json.loads(done_file(lease_file).read_text()))
        return undo(lease, lease_file, ACTOR, "revert")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _start_keeper(lease_file: Path) -> None:
    """Start the keeper in its own session, and wait until it runs: without it, a killed
    runner would leave the alias moved, so no keeper means no fault."""
    log = lease_file.with_suffix(".log").open("ab")
    keeper = subprocess.Popen(
        [sys.executable, "-m", "mlchaos.faults.keeper", str(lease_file)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    alive = lease_file.with_suffix(".alive")
    deadline = time.monotonic() + KEEPER_START_S
    while not alive.exists():
        if keeper.poll() is not None or time.monotonic() > deadline:
            keeper.kill()
            lease_file.unlink(missing_ok=True)
            raise TargetError(f"the lease keeper did not start; see {log.name}")
        time.sleep(0.02)
