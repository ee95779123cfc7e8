"""The lease keeper: ends an MLflow alias lease when its TTL runs out, whatever became of the
runner. ``python -m mlchaos.faults.keeper LEASE_FILE``.

MLflow has no timer of its own, so `mlchaos.faults.targets.mlflow` starts one keeper per lease,
detached in its own session before it moves the alias: a `kill -9` of the runner, a closed
terminal or a crashed CI job leaves the keeper running. The keeper waits for the lease's expiry
or for the runner to end the lease first (the ``.done`` file beside the lease), and at expiry
points the alias back and runs the team's deploy step, retrying until both succeed.

The runner and the keeper never both undo: each takes an exclusive lock on the lease file and
looks for ``.done`` before it acts; whoever undoes writes ``.done`` with what it did.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.hooks import run_hook
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.schema.service import Hook

__all__ = ["GIVE_UP_AFTER_S", "KEEPER", "POLL_S", "RETRY_S", "done_file", "locked", "main", "undo"]

KEEPER = "mlchaos lease keeper"
POLL_S = 0.25
RETRY_S = 2.0
GIVE_UP_AFTER_S = 3600.0


def done_file(lease_file: Path) -> Path:
    return lease_file.with_suffix(".done")


@contextlib.contextmanager
def locked(lease_file: Path) -> Iterator[dict[str, Any] | None]:
    """The lease, under an exclusive lock; None if it was already ended (its ``.done``)."""
    with lease_file.open("r") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            done = done_file(lease_file)
            yield None if done.exists() else json.loads(handle.read())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def undo(lease: dict[str, Any], lease_file: Path, actor: str, action: str) -> dict[str, Any]:
    """Point the alias back if it still names the leased version, then deploy; write (where
    the lease's folder still exists) and return the audit entry. Raises if the registry or the
    deploy step fails."""
    aliases = MlflowAliases(lease["url"])
    model, alias = lease["model"], lease["alias"]
    moved = aliases.version_of(model, alias) == lease["version"]
    if moved:
        aliases.point(model, alias, lease["replaced"])
    if lease.get("deploy"):
        cwd = Path(lease["hook_dir"]) if lease.get("hook_dir") else None
        run_hook(Hook.model_validate(lease["deploy"]), "the deploy step", cwd)
    entry = {
        "action": action if moved else "already undone",
        "at": datetime.now(UTC).isoformat(),
        "actor": actor,
        "from_version": lease["version"],
        "to_version": lease["replaced"] if moved else aliases.version_of(model, alias),
        "lease_id": lease["id"],
        "reason": f"{model}@{alias} back to {lease['replaced']}"
        if moved
        else f"{model}@{alias} no longer named {lease['version']}; deployed what it names",
    }
    if lease_file.parent.is_dir():
        staged = lease_file.with_suffix(".done.new")
        staged.write_text(json.dumps(entry))
        staged.replace(done_file(lease_file))
    return entry


def main(lease_file: Path) -> int:
    lease = json.loads(lease_file.read_text())
    lease_file.with_suffix(".alive").write_text(str(time.time()))
    while time.time() < float(lease["expires_at"]):
        if done_file(lease_file).exists():
            return 0
        time.sleep(POLL_S)
    give_up = time.monotonic() + GIVE_UP_AFTER_S
    while True:
        try:
            if not lease_file.exists():  # its run folder was removed: the lease still holds
                print(json.dumps(undo(lease, lease_file, KEEPER, "expire")), flush=True)
                return 0
            with locked(lease_file) as current:
                if current is not None:
                    entry = undo(current, lease_file, KEEPER, "expire")
                    print(json.dumps(entry), flush=True)
            return 0
        except Exception as exc:  # the registry or the deploy step failed: try again
            print(f"{datetime.now(UTC).isoformat()} could not end the lease yet: {exc}", flush=True)
            if time.monotonic() > give_up:
                return 1
            time.sleep(RETRY_S)


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
