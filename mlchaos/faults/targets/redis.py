"""Dependency faults on Redis (a feature store's online store), under leases that end without
mlchaos: Redis itself, its keeper, or `mlchaos recover`.

- ``outage``: Redis stops answering every client. The lease keeper holds it in one-second
  ``CLIENT PAUSE … ALL`` slices, each of which Redis ends by itself: when the keeper stops (the
  lease's end, its TTL, a `kill -9` of every mlchaos process), Redis answers again within a
  second. A pause cannot be lifted early (Redis queues ``CLIENT UNPAUSE`` behind it), which is
  why the slices are short.
- ``slow``: answers wait up to about ``delay``: pauses of ``delay`` with as long free between
  them, kept by the keeper the same way.
- ``rotate`` (``secret_rotation``): a consumer's password changes in Redis and in the team's
  secret file, without telling the consumer (`mlchaos.faults.targets.redis_secret`); the
  keeper waits for the TTL like ``stale``'s.
- ``stale``: one Feast feature view's values vanish from every entity key, as an eviction
  would (`mlchaos.faults.targets.feast_layout`): lookups come back NOT_FOUND and nothing fails.
  The removed fields are moved, not deleted, into a hash of Redis's own
  (``mlchaos:held:LEASE``), so whoever ends the lease (the runner, the keeper at the TTL,
  `mlchaos recover` after a `kill -9`) puts back only what is still missing: values the team's
  pipeline wrote again meanwhile stay.

mlchaos acts as its own Redis user (the service file's ``dependencies.<name>.username``), whose
password is read from the environment or a file at the moment it is needed: it is never
written into a lease, a journal or a message.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.errors import InputError, TargetError
from mlchaos.faults.keeper import KEEPER_START_S, Held, end_held_lease, write_and_keep
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.faults.targets import redis_secret
from mlchaos.faults.targets.feast_layout import key_pattern, view_fields
from mlchaos.journal import Journal
from mlchaos.schema.experiment import DependencyFault, SecretRotationFault
from mlchaos.schema.service import Dependency
from mlchaos.service import Service

__all__ = [
    "HELD",
    "KEEPER_START_S",
    "PULSE_S",
    "TARGET",
    "client",
    "end_lease",
    "inject",
    "pause_slices",
    "put_back",
    "remove_view",
    "undo",
]

TARGET = "redis"
HELD = "mlchaos:held:"
"""The hash a ``stale`` lease moved the view's fields into: ``KEY \\0 FIELD`` -> value."""
PULSE_S = 1.0
"""An outage's slice: the longest Redis stays paused once nobody renews the pause."""
_SEP = b"\x00"


def client(dependency: Dependency, base: Path | None, timeout_s: float = 2.0) -> Any:
    """A Redis client as mlchaos's user. `InputError` when its password cannot be read."""
    import redis

    password = None
    if dependency.password_env:
        password = os.environ.get(dependency.password_env)
        if not password:
            raise InputError(f"${dependency.password_env} is not set: the service file reads "
                             "the Redis password from it")  # fmt: skip
    elif dependency.password_file:
        path = (base / dependency.password_file) if base else Path(dependency.password_file)
        try:
            password = path.read_text().strip()
        except OSError as exc:
            raise InputError(f"cannot read the Redis password file {path}: {exc.strerror}") from exc
    extra: dict[str, Any] = {}
    if dependency.ca_file:
        extra["ssl_ca_certs"] = str((base / dependency.ca_file) if base else dependency.ca_file)
    return redis.Redis.from_url(
        dependency.url, username=dependency.username, password=password,
        socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=None, **extra,
    )  # fmt: skip


def inject(
    journal: Journal, service: Service, fault: DependencyFault | SecretRotationFault
) -> str:
    """Take the lease, start its keeper, and break the dependency; the lease id."""
    import redis

    dependency = _dependency(service, fault)
    lease_id = uuid.uuid4().hex[:12]
    lease_file = journal.path.parent / "leases" / f"{lease_id}.json"
    expires_at = time.time() + fault.ttl
    lease: dict[str, Any] = {
        "id": lease_id, "dependency": fault.dependency, "mode": "rotate", "delay_s": None,
        "feature_view": None, "expires_at": expires_at,
        "service_dir": str(service.hook_dir) if service.hook_dir else None,
        "spec": dependency.model_dump(mode="json"),
    }  # fmt: skip
    if isinstance(fault, DependencyFault):
        lease.update(mode=fault.mode, delay_s=fault.delay, feature_view=fault.feature_view)
    if isinstance(fault, SecretRotationFault):
        lease["user"] = fault.user
        lease["secret"] = dependency.secrets[fault.user].model_dump(mode="json")
    elif fault.mode == "stale":
        assert dependency.feast is not None and fault.feature_view is not None
        lease["fields"] = [f.hex() for f in view_fields(
            fault.feature_view, dependency.feast.views[fault.feature_view])]  # fmt: skip
        lease["project"] = dependency.feast.project
    intent = record_intent(
        journal, TARGET, undo=_undo_words(fault), lease_file=str(lease_file),
        dependency=fault.dependency, url=dependency.url, mode=lease["mode"], ttl_s=fault.ttl,
    )  # fmt: skip
    write_and_keep(lease_file, lease, "mlchaos.faults.redis_keeper", _HELD_FILES)
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat()
    record_granted(journal, intent, lease_id, expires)
    detail: dict[str, Any]
    try:
        if isinstance(fault, SecretRotationFault):
            redis_secret.rotate(client(dependency, service.hook_dir), lease, service.hook_dir)
            at = time.time()
            detail = {"mode": "secret rotation", "user": fault.user}
            source = (f"redis: {fault.user}'s password rotated in Redis and in its secret "
                      "file; its connections closed")  # fmt: skip
        elif fault.mode == "stale":
            keys = remove_view(client(dependency, service.hook_dir), lease)
            at = time.time()
            detail = {"mode": "stale", "keys": keys, "feature_view": fault.feature_view}
            source = f"redis: {fault.feature_view}'s values moved out of {keys} entity keys"
        else:
            at = _first_pause(lease_file)
            detail = {"mode": fault.mode, "delay_s": fault.delay if fault.mode == "slow" else None}
            source = f"redis: CLIENT PAUSE ({fault.mode}) in effect"
    except redis.RedisError as exc:
        raise TargetError(f"Redis {fault.dependency} at {dependency.url}: {exc}") from exc
    record_injected(journal, datetime.fromtimestamp(at, UTC).isoformat(), source,
                    {"dependency": fault.dependency, **detail})  # fmt: skip
    return lease_id


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    """End the lease now, unless its keeper (or another run) already did: then what it did."""
    return end_held_lease(Path(intent["lease_file"]), _HELD_FILES, undo, ACTOR, lease_id,
                          "no lease file: nothing was broken, or it was put right")


def undo(lease: dict[str, Any], held: Held | None, actor: str, action: str) -> dict[str, Any]:
    """Put the dependency right (call under the lease file's lock) and record it in ``held``.
    ``outage``, ``slow``: its keeper stops renewing the pause, and this waits until Redis
    answers; ``stale``: the fields still missing are put back. Raises if Redis cannot be
    reached to check or restore."""
    dependency = Dependency.model_validate(lease["spec"])
    base = Path(lease["service_dir"]) if lease.get("service_dir") else None
    entry: dict[str, Any] = {"action": action, "actor": actor, "lease_id": lease["id"]}
    if held is not None:  # the keeper stops pulsing once it sees the lease ended
        held.mark_done(lease, {**entry, "at": datetime.now(UTC).isoformat(), "pending": True})
    if lease["mode"] == "rotate":
        entry["reason"] = redis_secret.restore(client(dependency, base), lease, base)
        entry["source"] = f"redis: {lease['user']}'s old password put back ({action})"
    elif lease["mode"] == "stale":
        restored, kept = put_back(client(dependency, base), lease)
        entry["reason"] = (f"put back {restored} value(s) of {lease['feature_view']}; {kept} "
                           "had been written again meanwhile and were kept")  # fmt: skip
        entry["source"] = f"redis: the held values put back ({action})"
    else:
        _answers_again(dependency, base)
        entry["reason"] = "Redis answers again: nobody renews its pause"
        entry["source"] = f"redis: a PING answered again ({action})"
    entry["at"] = datetime.now(UTC).isoformat()
    if held is not None:
        held.mark_done(lease, entry)
    return entry


# -- stale -----------------------------------------------------------------------------------


def remove_view(redis_client: Any, lease: dict[str, Any]) -> int:
    """Move the view's fields out of every entity key into the lease's held hash; how many
    keys had them. Per key, in one transaction: a field is never both gone and not held."""
    fields = [bytes.fromhex(f) for f in lease["fields"]]
    held, moved = f"{HELD}{lease['id']}", 0
    for key in redis_client.scan_iter(match=key_pattern(lease["project"]), count=500):
        values = redis_client.hmget(key, fields)
        present = {f: v for f, v in zip(fields, values, strict=True) if v is not None}
        if not present:
            continue
        with redis_client.pipeline(transaction=True) as tx:
            tx.hset(held, mapping={key + _SEP + f: v for f, v in present.items()})
            tx.hdel(key, *present)
            tx.execute()
        moved += 1
    return moved


def put_back(redis_client: Any, lease: dict[str, Any]) -> tuple[int, int]:
    """Put the held fields back where they are still missing (``HSETNX``), then drop the held
    hash; how many were put back, and how many were there again already."""
    held = f"{HELD}{lease['id']}"
    restored = kept = 0
    for name, value in redis_client.hscan_iter(held, count=500):
        key, _, field = bytes(name).rpartition(_SEP)
        if redis_client.hsetnx(key, field, value):
            restored += 1
        else:
            kept += 1
    redis_client.delete(held)
    return restored, kept


# -- outage and slow -------------------------------------------------------------------------


def pause_slices(redis_client: Any, mode: str, delay_s: float) -> tuple[int, float]:
    """One slice's ``CLIENT PAUSE`` and the free time after it: an outage renews a one-second
    pause as soon as it ends; a slow dependency leaves ``delay_s`` free between pauses of
    ``delay_s`` (and at least a tenth of a second: Redis lifts a pause on its 10 Hz timer, so a
    pause renewed sooner would run into the last), so that an answer waits up to about
    ``delay_s``, and half of them not at all."""
    if mode == "outage":
        return round(PULSE_S * 1000), 0.0
    return max(1, round(delay_s * 1000)), max(delay_s, 0.1)


def _first_pause(lease_file: Path) -> float:
    """When the keeper's first pause took effect (it writes the time beside the lease)."""
    started = lease_file.with_suffix(".started")
    deadline = time.monotonic() + KEEPER_START_S
    while not started.exists():
        if time.monotonic() > deadline:
            raise TargetError(f"the lease keeper did not pause Redis; see "
                              f"{lease_file.with_suffix('.log')}")  # fmt: skip
        time.sleep(0.02)
    return float(started.read_text())


def _answers_again(dependency: Dependency, base: Path | None, limit_s: float = 10.0) -> None:
    import redis

    deadline = time.monotonic() + limit_s
    while True:
        try:
            client(dependency, base, timeout_s=PULSE_S * 2).ping()
            return
        except redis.TimeoutError:
            if time.monotonic() > deadline:
                raise TargetError(f"Redis at {dependency.url} still does not answer "
                                  f"{limit_s:g}s after its pauses stopped") from None  # fmt: skip


# -- the keeper ------------------------------------------------------------------------------

_HELD_FILES: dict[str, Held] = {}
"""Lease files this process holds open since it injected them (`mlchaos.faults.keeper.Held`)."""


def _dependency(service: Service, fault: DependencyFault | SecretRotationFault) -> Dependency:
    found = service.dependencies.get(fault.dependency)
    if found is None:
        known = ", ".join(sorted(service.dependencies)) or "none"
        raise TargetError(f"the service file names no dependency {fault.dependency!r} "
                          f"(it has {known})")  # fmt: skip
    return found


def _undo_words(fault: DependencyFault | SecretRotationFault) -> str:
    if isinstance(fault, SecretRotationFault):
        return (f"put {fault.user}'s old password back in {fault.dependency} and in its secret "
                "file, then run the team's propagation step")  # fmt: skip
    if fault.mode == "stale":
        return (f"put {fault.feature_view}'s values back into {fault.dependency} where they are "
                "still missing")  # fmt: skip
    return f"stop pausing {fault.dependency}: it answers again within {PULSE_S:g}s"
