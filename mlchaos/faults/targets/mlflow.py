"""Bad versions through an MLflow registry: move the alias that says what serves
(``versions.alias``, such as ``champion``) to the version the fault names, then run the team's
deploy step. The fault starts when that version first answers at the gateway.

The lease lives in three places, written in this order before the alias moves, so that nothing
is ever left unrecorded:

1. the journal (the undo, as for every fault);
2. a lease file beside it, held open by the runner and by a detached keeper
   (`mlchaos.faults.keeper`) that ends the lease when its TTL runs out, even after a `kill -9`;
3. MLflow itself, a tag on the registered model (`LEASE_TAG`): which alias, the version it named
   before, the expiry and the keeper's process. With no run folder and no keeper left,
   `mlchaos recover --service` and `mlchaos doctor` still find it there (`orphans`,
   `end_orphan`).

Ending the lease puts the alias back at the version it named before, whatever it names by then
(the team's own rollback may have moved it elsewhere), and runs the deploy step: staging is
left as it was found.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.faults.confirm import first_answer
from mlchaos.faults.keeper import KEEPER_START_S, Held, end_now, start_keeper, undo
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.faults.targets.mlflow_build import remove_copy
from mlchaos.hooks import run_hook
from mlchaos.journal import Journal
from mlchaos.observe.mlflow import LEASE_TAG, MlflowAliases
from mlchaos.schema.service import Hook
from mlchaos.service import Service

__all__ = [
    "CANARY_FIRST_ANSWER_S",
    "KEEPER_END_S",
    "KEEPER_START_S",
    "TARGET",
    "end_lease",
    "end_orphan",
    "inject",
    "inject_candidate",
    "keeper_alive",
    "lease_dir",
    "orphans",
]

TARGET = "mlflow"
CANARY_FIRST_ANSWER_S = 45.0
"""How long a canary's version has to give its first answer: the rollout deploys it to the
candidate server first, then sends it its first 1%."""
KEEPER_END_S = 150.0
"""How long `end_orphan` waits for a live keeper it asked to end a lease (its deploy step may
take up to 120 s)."""

_HELD: dict[str, Held] = {}
"""Lease files this process holds open, by path: its lock on them outlives their folder."""


def lease_dir(journal: Journal) -> Path:
    return journal.path.parent / "leases"


def inject(journal: Journal, service: Service, fault_type: str, model: str, version: str,
           ttl_s: float, built: dict[str, Any] | None = None) -> str:  # fmt: skip
    """Point the alias at ``version``, deploy it, and wait until it answers; the lease id.
    ``built``: the version is mlchaos's copy (`mlchaos.faults.targets.mlflow_build`), which
    the lease's end deletes."""
    if service.registry_url is None:
        raise TargetError(f"{fault_type} needs a registry: set endpoints.registry")
    aliases, alias = MlflowAliases(service.registry_url), service.versions.alias
    replaced = aliases.version_of(model, alias)
    if not aliases.has_version(model, version):
        raise TargetError(f"the MLflow registry has no version {version} of {model}")
    if replaced == version:
        raise TargetError(f"{model}@{alias} already names version {version}: nothing to inject")
    undo = f"point {model}@{alias} back at version {replaced}, then run the deploy step"
    if built is not None:
        undo += f", then delete the copy (version {version}, its run and files)"
    try:
        lease_id = _new_lease(
            journal, service, aliases, fault_type, model, version, ttl_s,
            {"alias": alias, "replaced": replaced, **({"built": built} if built else {})},
            undo=undo,
        )  # fmt: skip
    except BaseException:
        if built is not None:  # no lease holds the copy: nothing else would delete it
            remove_copy(service.registry_url, model, built)
        raise
    moved = time.time()
    aliases.point(model, alias, version)
    if service.deploy_hook is not None:
        run_hook(service.deploy_hook, "the deploy step", service.hook_dir)
    deployed = time.time()
    answered = first_answer(service, version, moved)
    detail = {
        "model": model, "version": version, "replaced": replaced, "alias": alias,
        "alias_moved_at": datetime.fromtimestamp(moved, UTC).isoformat(),
        "deploy_s": round(deployed - moved, 3),
        **({"built": f"a {built['variant']} copy of version {built['of']}"} if built else {}),
    }  # fmt: skip
    at = datetime.fromtimestamp(answered, UTC).isoformat()
    record_injected(journal, at, f"gateway answers (the first by version {version})", detail)
    return lease_id


def inject_candidate(journal: Journal, service: Service, fault_type: str, model: str, version: str,
                     ttl_s: float) -> str:  # fmt: skip
    """A canary: point the rollout's alias (``candidate``) at ``version``, start the team's
    rollout, and wait for the version's first answer; the lease id. mlchaos never moves a
    weight: the rollout does, and the answers say what it did. The lease puts back the
    rollout's alias and every other alias the model had (a promotion moves ``versions.alias``,
    and ``previous`` perhaps), after the rollout's abort."""
    rollout = service.rollout
    if service.registry_url is None or rollout is None:
        raise TargetError(f"a canary {fault_type} needs endpoints.registry and a rollout:")
    aliases, alias = MlflowAliases(service.registry_url), rollout.alias
    if not aliases.has_version(model, version):
        raise TargetError(f"the MLflow registry has no version {version} of {model}")
    before = aliases.aliases(model)  # a promotion moves champion, and previous perhaps
    champion = before.get(service.versions.alias)
    if champion == version:
        raise TargetError(
            f"{model}@{service.versions.alias} already names version {version}: a canary of "
            "what serves rolls nothing out"
        )
    replaced = aliases.named(model, alias)
    undo = (f"abort the rollout, put {model}@{alias} and every other alias of {model} back as "
            f"they were ({service.versions.alias}: {champion}), then run the deploy step")
    lease_id = _new_lease(journal, service, aliases, fault_type, model, version, ttl_s, {
        "alias": alias, "replaced": replaced,
        "also": [{"alias": a, "replaced": v} for a, v in sorted(before.items()) if a != alias],
        "abort": rollout.abort.model_dump(mode="json") if rollout.abort else None,
    }, undo=undo)  # fmt: skip
    started = time.time()
    aliases.point(model, alias, version)
    run_hook(rollout.start, "the rollout's start step", service.hook_dir)
    answered = first_answer(service, version, started, timeout_s=CANARY_FIRST_ANSWER_S)
    detail = {
        "model": model, "version": version, "replaced": champion, "alias": alias,
        "rollout": True, "rollout_started_at": datetime.fromtimestamp(started, UTC).isoformat(),
    }  # fmt: skip
    at = datetime.fromtimestamp(answered, UTC).isoformat()
    record_injected(journal, at, f"gateway answers (the first by candidate {version})", detail)
    return lease_id


def _new_lease(
    journal: Journal, service: Service, aliases: MlflowAliases, fault_type: str, model: str,
    version: str, ttl_s: float, moves: dict[str, Any], undo: str,
) -> str:  # fmt: skip
    """Record the lease everywhere it lives (the journal, the lease file and its keeper,
    MLflow's tag), before anything moves; its id. ``moves``: the alias the fault moves and what
    it named (``alias``, ``replaced``), and what else the undo puts back."""
    held_already = aliases.lease(model)
    if held_already is not None:
        raise TargetError(
            f"{model} already carries mlchaos lease {held_already.get('id')} (tag {LEASE_TAG}): "
            "another run holds it, or one left it behind; `mlchaos recover --service FILE`"
        )
    lease_id, expires_at = uuid.uuid4().hex[:12], time.time() + ttl_s
    lease_file = lease_dir(journal) / f"{lease_id}.json"
    deploy = service.deploy_hook.model_dump(mode="json") if service.deploy_hook else None
    hook_dir = str(service.hook_dir) if service.hook_dir else None
    lease = {
        "id": lease_id, "url": service.registry_url, "model": model, "version": version,
        "expires_at": expires_at, "deploy": deploy, "hook_dir": hook_dir, **moves,
    }  # fmt: skip
    intent = record_intent(
        journal, TARGET, undo=undo, lease_file=str(lease_file), url=service.registry_url,
        kind="mlflow", model=model, version=version, ttl_s=ttl_s, deploy=deploy,
        hook_dir=hook_dir, fault_type=fault_type, **moves,
    )  # fmt: skip
    _write_private(lease_file, json.dumps(lease))
    _HELD[str(lease_file)] = Held(lease_file)
    keeper = start_keeper(lease_file, "mlchaos.faults.keeper", _HELD)
    _tag(aliases, lease, keeper, lease_file)
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat()
    record_granted(journal, intent, lease_id, expires)
    return lease_id


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    """Undo now, unless the keeper already did (then what it did). Under the lease file's
    lock, which this process holds open since the injection: a deleted run folder changes
    nothing. Without the file (another process, the folder gone), through MLflow's record."""
    lease_file = Path(intent["lease_file"])
    held = _HELD.pop(str(lease_file), None)
    if held is None and lease_file.exists():
        held = Held(lease_file)
    if held is None:
        hook_dir = Path(intent["hook_dir"]) if intent.get("hook_dir") else None
        ended = end_orphan(intent["url"], intent["model"], _hook(intent), ACTOR, lease_id, hook_dir)
        if ended is not None:
            return ended
        return {
            "action": "never injected" if lease_id is None else "already undone",
            "at": datetime.now(UTC).isoformat(),
            "actor": ACTOR,
            "reason": "no lease file and no lease in MLflow: nothing was moved, or it was undone",
        }
    return end_now(held, undo, ACTOR)


def orphans(url: str, model: str) -> dict[str, Any] | None:
    """The lease MLflow carries for ``model``, when it carries one, with ``keeper_alive``: is
    the process that keeps it still there to end it at its expiry?"""
    lease = MlflowAliases(url).lease(model)
    if lease is None:
        return None
    return {**lease, "keeper_alive": keeper_alive(lease)}


def end_orphan(
    url: str,
    model: str,
    deploy: Hook | None,
    actor: str,
    lease_id: str | None = None,
    hook_dir: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any] | None:
    """End the lease MLflow carries for ``model`` (only ``lease_id``, when given): ask its keeper
    to end it now when the keeper still runs (it holds the lock), else undo it here, with the
    service's ``deploy`` step. None when MLflow carries no such lease."""
    aliases = MlflowAliases(url)
    lease = aliases.lease(model)
    if lease is None or (lease_id is not None and lease.get("id") != lease_id):
        return None
    if keeper_alive(lease):
        pid = int(lease["keeper"]["pid"])
        say(f"asking the lease keeper (pid {pid}) to end lease {lease['id']} now")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + KEEPER_END_S
        while time.monotonic() < deadline:
            if (aliases.lease(model) or {}).get("id") != lease["id"]:
                return {
                    "action": "end", "at": datetime.now(UTC).isoformat(),
                    "actor": "mlchaos lease keeper", "lease_id": lease["id"],
                    "reason": f"its keeper (pid {pid}) ended it on request",
                }  # fmt: skip
            time.sleep(0.5)
        raise TargetError(f"the lease keeper (pid {pid}) did not end lease {lease['id']} in time")
    whole = {
        **lease, "url": url, "model": model,
        "deploy": deploy.model_dump(mode="json") if deploy else None,
        "hook_dir": str(hook_dir) if hook_dir else None,
    }  # fmt: skip
    return undo(whole, None, actor, "revert")


def keeper_alive(lease: dict[str, Any]) -> bool:
    """Whether the keeper named in an MLflow lease still runs, on this machine."""
    keeper = lease.get("keeper") or {}
    if keeper.get("host") != socket.gethostname() or not keeper.get("pid"):
        return False
    try:
        cmdline = Path(f"/proc/{int(keeper['pid'])}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"mlchaos.faults.keeper" in cmdline and str(lease.get("id", "?")).encode() in cmdline


def _tag(aliases: MlflowAliases, lease: dict[str, Any], keeper: int, lease_file: Path) -> None:
    """Write the lease into MLflow, before the alias moves; without it, no fault."""
    record = {
        "id": lease["id"], "alias": lease["alias"], "version": lease["version"],
        "replaced": lease["replaced"], "expires_at": lease["expires_at"],
        "expires": datetime.fromtimestamp(lease["expires_at"], UTC).isoformat(),
        "keeper": {"pid": keeper, "host": socket.gethostname()},
        "lease_file": str(lease_file), "holder": ACTOR,
        **{key: lease[key] for key in ("also", "abort", "built") if lease.get(key)},
    }  # fmt: skip
    try:
        aliases.set_tag(lease["model"], LEASE_TAG, json.dumps(record))
    except MlchaosError:
        held = _HELD.pop(str(lease_file))
        with held.locked() as current:  # the keeper must not undo what never moved
            if current is not None:
                held.mark_done(current, {"action": "never injected", "actor": ACTOR})
        held.close()
        raise


def _hook(intent: dict[str, Any]) -> Hook | None:
    return Hook.model_validate(intent["deploy"]) if intent.get("deploy") else None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
