"""The lease keeper: ends an MLflow alias lease when its TTL runs out, whatever became of the
runner. ``python -m mlchaos.faults.keeper LEASE_FILE``.

MLflow has no timer of its own, so `mlchaos.faults.targets.mlflow` starts one keeper per lease,
detached in its own session before it moves the alias: a `kill -9` of the runner, a closed
terminal or a crashed CI job leaves the keeper running. The keeper waits for the lease's expiry,
for the runner to end the lease first, or for SIGTERM (`mlchaos recover` asks it to end the
lease now), then points the alias back at the version it named before the fault and runs the
team's deploy step, retrying until both succeed (with a growing pause, and a bounded log).

Exactly one party undoes a lease, and never without the lock: the keeper and the runner each
hold the lease file open from the start and take an exclusive lock on it (a lock on an open
file still works once its folder is deleted), and whoever undoes writes what it did into the
file, under that lock. The lease also lives in MLflow (`mlchaos.observe.mlflow.LEASE_TAG`):
an undo deletes it, and an undo that finds it gone knows someone else ended the lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.faults.targets.mlflow_build import remove_copy
from mlchaos.hooks import run_hook
from mlchaos.observe.mlflow import LEASE_TAG, MlflowAliases
from mlchaos.schema.service import Hook
from mlchaos.vocabulary import KEEPER

__all__ = [
    "KEEPER",
    "KEEPER_START_S",
    "LOGGED_FAILURES",
    "POLL_S",
    "RETRY_MAX_S",
    "RETRY_S",
    "Held",
    "Undo",
    "done_file",
    "end_held_lease",
    "end_now",
    "end_until_done",
    "keep",
    "main",
    "start_keeper",
    "undo",
    "watch",
    "write_and_keep",
]

POLL_S = 0.25
KEEPER_START_S = 10.0
"""How long a keeper has to start before the fault is given up."""
RETRY_S = 2.0
RETRY_MAX_S = 60.0
"""The longest pause between two attempts: a registry down for an hour is retried every minute."""
LOGGED_FAILURES = 20
"""Failures logged one by one; after them, one line in 30: the log stays bounded, however long
MLflow or the deploy step stays broken."""


def done_file(lease_file: Path) -> Path:
    return lease_file.with_suffix(".done")


class Held:
    """A lease file held open for the lifetime of whoever may undo it (the runner, the keeper).
    Its lock and its contents stay shared through the open file even after the run folder is
    deleted, so two parties can never both undo."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("r+")

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any] | None]:
        """The lease, under an exclusive lock; None when it was already ended (an end marked
        ``pending`` was begun and not finished: whoever holds the lock next finishes it)."""
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        try:
            lease = self.read()
            ended = lease.get("done")
            yield None if ended and not ended.get("pending") else lease
        finally:
            fcntl.flock(self.handle, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        self.handle.seek(0)
        return dict(json.loads(self.handle.read()))

    def done(self) -> dict[str, Any] | None:
        """What ended the lease, when it has ended."""
        found = self.read().get("done")
        return dict(found) if isinstance(found, dict) else None

    def mark_done(self, lease: dict[str, Any], entry: dict[str, Any]) -> None:
        """Write what ended it into the file (call under the lock), and beside it while the
        folder exists, for people and `mlchaos recover`."""
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(json.dumps({**lease, "done": entry}))
        self.handle.flush()
        os.fsync(self.handle.fileno())
        if self.path.parent.is_dir():
            staged = self.path.with_suffix(".done.new")
            staged.write_text(json.dumps(entry))
            staged.replace(done_file(self.path))

    def close(self) -> None:
        self.handle.close()


def undo(lease: dict[str, Any], held: Held | None, actor: str, action: str) -> dict[str, Any]:
    """Put the alias back at the version it named before the fault, whatever it names now (the
    team's rollback may have moved it elsewhere), run the deploy step, delete the lease from
    MLflow, and record it (in ``held``, under its lock). A canary's lease first runs the
    rollout's abort step, and also puts back the aliases the rollout may have moved (``also``:
    champion, after a promotion). Raises if MLflow, the abort or the deploy step fails. A
    lease MLflow no longer carries was ended by someone else: nothing is touched."""
    aliases = MlflowAliases(lease["url"])
    model, alias, replaced = lease["model"], lease["alias"], lease["replaced"]
    cwd = Path(lease["hook_dir"]) if lease.get("hook_dir") else None
    carried = aliases.lease(model)
    if carried is None or carried.get("id") != lease["id"]:
        entry = _entry(lease, actor, "already undone", aliases.named(model, alias))
        entry["reason"] = f"MLflow carries no open lease {lease['id']}: someone ended it already"
    else:
        if lease.get("abort"):
            run_hook(Hook.model_validate(lease["abort"]), "the rollout's abort step", cwd)
        named = aliases.named(model, alias)
        aliases.put_back(model, alias, replaced)
        back = "removed" if replaced is None else f"back to {replaced}"
        moved = [f"{model}@{alias} {back}"] if named != replaced else []
        for other in lease.get("also", []):
            if aliases.named(model, other["alias"]) != other["replaced"]:
                aliases.put_back(model, other["alias"], other["replaced"])
                moved.append(f"{model}@{other['alias']} back to {other['replaced']}")
        if lease.get("deploy"):
            run_hook(Hook.model_validate(lease["deploy"]), "the deploy step", cwd)
        removed = remove_copy(lease["url"], model, lease["built"]) if lease.get("built") else []
        aliases.delete_tag(model, LEASE_TAG)
        entry = _entry(lease, actor, action if moved else "already undone", named)
        entry["reason"] = _restored(lease, named)
        if lease.get("built"):
            entry["reason"] += (f"; the {lease['built'].get('variant')} copy: "
                                f"{', '.join(removed) or 'already gone'}")  # fmt: skip
        if lease.get("also"):
            entry["reason"] = (
                f"the rollout aborted; put back: {', '.join(moved)}; deployed" if moved
                else "the rollout aborted; every alias already named what it did before; deployed"
            )  # fmt: skip
    if held is not None:
        held.mark_done(lease, entry)
    return entry


def _entry(lease: dict[str, Any], actor: str, action: str, named: str | None) -> dict[str, Any]:
    return {
        "action": action,
        "at": datetime.now(UTC).isoformat(),
        "actor": actor,
        "from_version": named,
        "to_version": lease["replaced"],
        "lease_id": lease["id"],
    }


def _restored(lease: dict[str, Any], named: str | None) -> str:
    where, before = f"{lease['model']}@{lease['alias']}", lease["replaced"]
    if named == lease["version"]:
        return f"{where} back to {before}, and deployed"
    if named == before:
        return f"{where} already named {before} again; deployed it"
    return (
        f"{where} named {named}, not the fault's {lease['version']} (moved since, by the team's "
        f"rollback perhaps): put back to {before}, as before the fault, and deployed"
    )


def watch(lease_file: Path) -> tuple[Held, dict[str, Any], threading.Event]:
    """A keeper's start: hold the lease file (from here on its lock works, whatever happens to
    the folder), say it runs, and take SIGTERM (`mlchaos recover`) as "end it now"."""
    held = Held(lease_file)
    now = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: now.set())
    lease_file.with_suffix(".alive").write_text(str(os.getpid()))
    return held, held.read(), now


def end_now(held: Held, end: Undo, actor: str) -> dict[str, Any]:
    """The runner's end of a lease: undo now under the lock, unless the keeper (or another
    run) already ended it, then what it did. Closes ``held``."""
    try:
        with held.locked() as lease:
            if lease is None:
                return held.done() or {}
            return end(lease, held, actor, "revert")
    finally:
        held.close()


def end_held_lease(
    lease_file: Path, held_files: dict[str, Held], end: Undo, actor: str, lease_id: str | None,
    nothing: str,
) -> dict[str, Any]:  # fmt: skip
    """A target's ``end_lease`` for a lease kept in a file: end it now through ``end`` under
    the file's lock (held open since the injection in ``held_files``, or opened now), unless
    its keeper or another run already did, then what it did. Without the file, ``nothing``
    says why there is nothing to end."""
    held = held_files.pop(str(lease_file), None)
    if held is None and lease_file.exists():
        held = Held(lease_file)
    if held is None:
        return {"action": "never injected" if lease_id is None else "already undone",
                "at": datetime.now(UTC).isoformat(), "actor": actor, "reason": nothing}  # fmt: skip
    return end_now(held, end, actor)


def main(lease_file: Path) -> int:
    return keep(lease_file, undo)


def keep(lease_file: Path, end: Undo) -> int:
    """A keeper's life: wait for the lease's expiry, the runner's end of it, or SIGTERM
    (`mlchaos recover`: end it now), then end it with ``end`` unless someone already did."""
    held, lease, now = watch(lease_file)
    while time.time() < float(lease["expires_at"]) and not now.is_set():
        if held.done() is not None:
            return 0
        now.wait(POLL_S)
    return end_until_done(held, end, "end" if now.is_set() else "expire")


Undo = Callable[[dict[str, Any], "Held | None", str, str], dict[str, Any]]
"""A target's undo: ``(lease, held, actor, action) -> what it did``, called under the lock."""


def end_until_done(held: Held, end: Undo, action: str) -> int:
    """End the lease as the keeper unless someone already did, retrying (with a growing pause,
    and a bounded log) until the target lets it: a registry or a Redis down for an hour is
    retried every minute."""
    pause, failures = RETRY_S, 0
    while True:
        try:
            with held.locked() as current:
                if current is None:
                    return 0  # the runner ended it meanwhile
                entry = end(current, held, KEEPER, action)
            print(json.dumps(entry), flush=True)
            return 0
        except Exception as exc:  # the target or a hook failed: try again, until done
            failures += 1
            if failures <= LOGGED_FAILURES or failures % 30 == 0:
                stamp = datetime.now(UTC).isoformat()
                print(f"{stamp} attempt {failures} could not end the lease yet: {exc}", flush=True)
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)


def write_and_keep(
    lease_file: Path, lease: dict[str, Any], module: str, held: dict[str, Held]
) -> int:
    """Write ``lease`` into ``lease_file`` (mode 0600), hold it open in ``held``, and start its
    keeper (`start_keeper`); the keeper's process id."""
    lease_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lease_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(lease))
    held[str(lease_file)] = Held(lease_file)
    return start_keeper(lease_file, module, held)


def start_keeper(lease_file: Path, module: str, held: dict[str, Held]) -> int:
    """Start ``python -m MODULE LEASE_FILE`` in its own session and wait until it runs:
    without it, a killed runner would leave the fault in, so no keeper means no fault (the
    lease file is then dropped from ``held`` and deleted). Its process id."""
    log = lease_file.with_suffix(".log").open("ab")
    keeper = subprocess.Popen(
        [sys.executable, "-m", module, str(lease_file)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    alive = lease_file.with_suffix(".alive")
    deadline = time.monotonic() + KEEPER_START_S
    while not alive.exists():
        if keeper.poll() is not None or time.monotonic() > deadline:
            keeper.kill()
            held.pop(str(lease_file)).close()
            lease_file.unlink(missing_ok=True)
            raise TargetError(f"the lease keeper did not start; see {log.name}")
        time.sleep(0.02)
    return keeper.pid


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
