"""A secret rotation on Redis: a consumer's ACL user (the model server's) takes a new
password, and the team's secret store (a file) is given it, but nobody tells the consumer. Its
connections are closed (``CLIENT KILL USER``), as a rotation's restart or a network blip would,
and every new one is refused until the team's propagation step makes it read the file again.

Nothing here holds a secret outside the places the team keeps it:

- the user's password *hashes* (``ACL GETUSER``) are kept in Redis itself, in the lease's
  held hash (``mlchaos:held:LEASE``), readable only by users Redis lets read it; the revert
  puts them back with ``ACL SETUSER … resetpass #HASH``, so no plaintext is ever needed;
- the secret file's old content is kept beside it, with its mode (``.NAME.mlchaos-held-LEASE``),
  and moved back over it by the revert;
- the new password is generated here, given to Redis and the file, and forgotten.

The revert (the runner, the keeper at the TTL, or `mlchaos recover`) puts both back, then runs
the team's propagation step so that the consumer is on the old password again; every step is
idempotent, so an end interrupted half-way is finished by whoever ends the lease next.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.faults.targets.files import held_copy, write_atomically
from mlchaos.hooks import run_hook
from mlchaos.schema.service import Dependency, DependencySecret

__all__ = ["HELD_FIELD", "check", "refusals", "restore", "rotate", "secret_path"]

HELD_FIELD = "passwords"
"""The held hash's field with the user's password hashes, as JSON."""


def secret_path(secret: DependencySecret, base: Path | None) -> Path:
    return (base / secret.file) if base else Path(secret.file)


def rotate(server: Any, lease: dict[str, Any], base: Path | None) -> None:
    """Keep the user's password hashes and the secret file's content, then give the user a new
    password (Redis and the file) and close its connections."""
    user, held = lease["user"], f"mlchaos:held:{lease['id']}"
    found = server.acl_getuser(user)
    if not found:
        raise TargetError(f"Redis has no ACL user {user!r}")
    hashes = [h.decode() if isinstance(h, bytes) else h for h in found.get("passwords", [])]
    if not hashes:
        raise TargetError(f"Redis's ACL user {user!r} has no password to rotate (nopass?)")
    server.hsetnx(held, HELD_FIELD, json.dumps(hashes))
    secret_file = secret_path(DependencySecret.model_validate(lease["secret"]), base)
    kept = held_copy(secret_file, lease["id"])
    mode = secret_file.stat().st_mode & 0o777
    if not kept.exists():
        write_atomically(kept, secret_file.read_bytes(), mode)
    new = secrets.token_urlsafe(24)
    server.execute_command("ACL", "SETUSER", user, "resetpass", f">{new}")
    write_atomically(secret_file, (new + "\n").encode(), mode)
    del new
    server.execute_command("CLIENT", "KILL", "USER", user)


def restore(server: Any, lease: dict[str, Any], base: Path | None) -> str:
    """Put the old password hashes and the old secret file back, then run the team's
    propagation step; what was done. Raises when a step fails (the caller tries again)."""
    user, held = lease["user"], f"mlchaos:held:{lease['id']}"
    secret = DependencySecret.model_validate(lease["secret"])
    secret_file = secret_path(secret, base)
    kept = held_copy(secret_file, lease["id"])
    raw = server.hget(held, HELD_FIELD)
    if raw is None and not kept.exists():
        return f"nothing of {user}'s credential was changed"
    if raw is not None:
        hashes = json.loads(raw)
        server.execute_command("ACL", "SETUSER", user, "resetpass", *(f"#{h}" for h in hashes))
    if kept.exists():
        os.replace(kept, secret_file)
    run_hook(secret.propagate, f"the secret-propagation step for {user}", cwd=base)
    server.delete(held)
    return (f"{user}'s old password put back in Redis and in {secret_file.name}, and the "
            "team's propagation step ran")  # fmt: skip


def refusals(server: Any, user: str, since_s: float) -> int:
    """Logins of ``user`` Redis refused in the last ``since_s`` seconds (its ACL LOG)."""
    total = 0
    for entry in server.acl_log(count=128):
        if entry.get("reason") != "auth" or entry.get("username") != user:
            continue
        if float(entry.get("age-seconds", since_s + 1)) <= since_s:
            total += int(entry.get("count", 1))
    return total


def check(dependency: Dependency, user: str, base: Path | None) -> str:
    """A dry run: the consumer's current password, from the team's file, logs in (a harmless
    PING), and mlchaos may read the user's ACL entry and write beside the file."""
    import redis

    from mlchaos.faults.targets.redis import client

    secret = dependency.secrets[user]
    secret_file = secret_path(secret, base)
    try:
        password = secret_file.read_text().strip()
    except OSError as exc:
        raise TargetError(f"cannot read {user}'s secret file {secret_file}: "
                          f"{exc.strerror}") from None  # fmt: skip
    if not os.access(secret_file.parent, os.W_OK):
        raise TargetError(f"cannot write beside {secret_file}: the revert keeps its old "
                          "content there")  # fmt: skip
    consumer = redis.Redis.from_url(
        dependency.url, username=user, password=password, socket_timeout=2,
        socket_connect_timeout=2, retry=None,
    )  # fmt: skip
    try:
        consumer.ping()
    except redis.AuthenticationError:
        raise TargetError(f"{secret_file.name} does not hold {user}'s password at Redis: "
                          "the secret store and Redis already disagree") from None  # fmt: skip
    except redis.RedisError as exc:
        raise TargetError(f"Redis at {dependency.url}: {exc}") from None
    finally:
        consumer.close()
        del password
    try:
        found = client(dependency, base).acl_getuser(user)
    except redis.RedisError as exc:
        raise TargetError(f"mlchaos's Redis user cannot read {user}'s ACL entry: {exc}") from None
    if not found or not found.get("passwords"):
        raise TargetError(f"Redis's ACL user {user!r} has no password to rotate")
    return (f"{user} logs in with {secret_file.name}; its password would be rotated in Redis "
            "and in that file, and its connections closed")  # fmt: skip

