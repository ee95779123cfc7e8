"""A model registry on disk: immutable sha256-addressed artifacts, aliases and an audit log.

Layout under the root directory::

    artifacts/<sha256>.pkl              immutable; the name is the content's hash
    models/<name>/versions.json         version -> sha256 and training metadata
    models/<name>/aliases.json          promotion history (production and previous derive from
                                        it), and whether the fallback serves in its place
    models/<name>/audit.jsonl           append-only: promote, rollback, fallback, lease ends
    leases.json                         fault leases: what to undo, and when it expires by itself

``production`` is the last entry of the history and ``previous`` the one before, so a rollback
pops the history and can be repeated until only the first version is left. ``fallback`` is the
team's switch to its fallback model (the first version behind an input guard): the model
server answers with it instead of production while it is on. ``canary`` is a version being
rolled out beside production: the model server gives it ``weight`` % of the requests, the
canary controller moves the weight, and promoting it makes it production.

    >>> registry = Registry(Path("state/registry"))
    >>> registry.promote("credit-risk", "v3-inverted", actor="alice", reason="canary")
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mlchaos.errors import TargetError

__all__ = ["FALLBACK", "Aliases", "AuditEntry", "Canary", "Lease", "Registry", "now_utc"]

FALLBACK = "fallback"
"""What the audit log calls the fallback, in place of a version."""


class Canary(BaseModel):
    """A version rolled out beside production, to ``weight`` % of the requests."""

    model_config = ConfigDict(frozen=True)

    version: str
    weight: float = 0.0


class Aliases(BaseModel):
    model_config = ConfigDict(frozen=True)

    history: tuple[str, ...]
    fallback: bool = False
    """The fallback answers in production's place."""
    canary: Canary | None = None

    @property
    def production(self) -> str:
        return self.history[-1]

    @property
    def previous(self) -> str | None:
        return self.history[-2] if len(self.history) > 1 else None


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    model: str
    action: str
    from_version: str | None
    to_version: str | None
    actor: str
    reason: str = ""
    lease_id: str | None = None


class Lease(BaseModel):
    """A fault held on the registry: ``version`` was promoted (or made the canary) and must go
    when the lease ends."""

    model_config = ConfigDict(frozen=True)

    id: str
    model: str
    version: str
    holder: str
    expires_at: datetime
    kind: Literal["promote", "canary"] = "promote"
    """A canary's end withdraws the canary, and rolls back a promotion the rollout made."""


def now_utc(clock: Callable[[], float] = time.time) -> datetime:
    return datetime.fromtimestamp(clock(), tz=UTC)


class Registry:
    """Every operation takes a file lock, so the API server and the CLI can share a root."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock

    # -- artifacts -------------------------------------------------------------------------

    def register(self, name: str, version: str, model: Any, metadata: dict[str, Any]) -> str:
        """Store ``model`` as an immutable artifact; return its sha256."""
        blob = pickle.dumps(model, protocol=5)
        sha = hashlib.sha256(blob).hexdigest()
        with self._locked():
            versions = self._versions(name)
            if version in versions:
                raise TargetError(f"{name} {version} is already registered; versions are immutable")
            artifact = self.root / "artifacts" / f"{sha}.pkl"
            artifact.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(artifact, blob)
            versions[version] = {"sha256": sha, "metadata": metadata}
            _atomic_write(self._model_dir(name) / "versions.json", json.dumps(versions, indent=2))
        return sha

    def versions(self, name: str) -> dict[str, dict[str, Any]]:
        return self._versions(name)

    def load(self, name: str, version: str) -> tuple[Any, dict[str, Any]]:
        """The model object and its metadata, after checking the artifact's hash."""
        entry = self._versions(name).get(version)
        if entry is None:
            raise TargetError(f"{name} has no version {version!r}")
        blob = (self.root / "artifacts" / f"{entry['sha256']}.pkl").read_bytes()
        if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise TargetError(f"artifact of {name} {version} does not match its sha256")
        return pickle.loads(blob), {**entry["metadata"], "sha256": entry["sha256"]}

    def set_reference(self, name: str, reference: dict[str, Any]) -> None:
        """The training reference of ``name``: feature statistics, positive shares, and the
        holdout accuracy of each version. It describes the training data, so it lives beside
        the versions rather than inside any one immutable artifact."""
        with self._locked():
            _atomic_write(self._model_dir(name) / "reference.json", json.dumps(reference, indent=2))

    def reference(self, name: str) -> dict[str, Any]:
        path = self._model_dir(name) / "reference.json"
        if not path.exists():
            raise TargetError(f"model {name!r} has no training reference; run `mlchaos up` again")
        return dict(json.loads(path.read_text()))

    # -- aliases -------------------------------------------------------------------------

    def aliases(self, name: str) -> Aliases:
        path = self.aliases_path(name)
        if not path.exists():
            raise TargetError(f"model {name!r} has no promoted version")
        return Aliases.model_validate_json(path.read_text())

    def aliases_path(self, name: str) -> Path:
        return self._model_dir(name) / "aliases.json"

    def promote(
        self,
        name: str,
        version: str,
        actor: str,
        reason: str = "",
        lease_ttl_s: float | None = None,
    ) -> tuple[AuditEntry, Lease | None]:
        """Make ``version`` production. With ``lease_ttl_s``, it is undone when the TTL ends."""
        with self._locked():
            if version not in self._versions(name):
                raise TargetError(f"{name} has no version {version!r}; register it first")
            history = self._history(name)
            if history and history[-1] == version:
                raise TargetError(
                    f"{name} {version} is already production; promoting it does nothing"
                )
            self._write_history(name, (*history, version))
            lease = None
            if lease_ttl_s is not None:
                lease = Lease(
                    id=uuid.uuid4().hex[:12],
                    model=name,
                    version=version,
                    holder=actor,
                    expires_at=datetime.fromtimestamp(self.clock() + lease_ttl_s, tz=UTC),
                )
                self._write_leases([*self._leases(), lease])
            prior = history[-1] if history else None
            entry = self._audit(name, "promote", prior, version, actor, reason, lease)
        return entry, lease

    def rollback(
        self, name: str, actor: str, reason: str = "", from_version: str | None = None
    ) -> AuditEntry | None:
        """Return production to ``previous``. With ``from_version``, only if it is production.

        Returns None when there is nothing to do, so repeated alerts cannot roll back twice.
        """
        with self._locked():
            return self._rollback(name, actor, reason, from_version, lease=None)

    def set_fallback(
        self, name: str, enabled: bool, actor: str, reason: str = ""
    ) -> AuditEntry | None:
        """Serve the fallback in production's place (or stop); None when it already was so,
        so that repeated alerts act once."""
        with self._locked():
            aliases = self.aliases(name)
            if aliases.fallback == enabled:
                return None
            self._write_history(name, aliases.history, fallback=enabled)
            production, fallback = aliases.production, FALLBACK
            moves = (production, fallback) if enabled else (fallback, production)
            action = "fallback_on" if enabled else "fallback_off"
            return self._audit(name, action, *moves, actor, reason, None)

    def restore(self, name: str, version: str, actor: str, reason: str = "") -> list[AuditEntry]:
        """Put ``version`` back in production with the fallback off and no canary: staging as
        declared. Returns what had to change (nothing when it already was so)."""
        done: list[AuditEntry] = []
        withdrawn = self.abort_canary(name, actor, reason)
        if withdrawn is not None:
            done.append(withdrawn)
        if self.aliases(name).production != version:
            done.append(self.promote(name, version, actor, reason)[0])
        switched = self.set_fallback(name, False, actor, reason)
        return done + ([switched] if switched else [])

    def request_retrain(self, name: str, actor: str, reason: str = "") -> AuditEntry:
        """Record that ``name`` needs retraining; the training pipeline reads the audit log."""
        with self._locked():
            production = self.aliases(name).production
            return self._audit(name, "retrain_requested", production, None, actor, reason, None)

    # -- canaries ------------------------------------------------------------------------

    def start_canary(
        self, name: str, version: str, actor: str, reason: str = "",
        lease_ttl_s: float | None = None,
    ) -> tuple[AuditEntry, Lease | None]:  # fmt: skip
        """Make ``version`` the canary, at weight 0: the rollout moves it from there. With
        ``lease_ttl_s``, the canary is withdrawn (and a promotion of it rolled back) when the
        TTL ends."""
        with self._locked():
            if version not in self._versions(name):
                raise TargetError(f"{name} has no version {version!r}; register it first")
            aliases = self.aliases(name)
            if aliases.production == version:
                raise TargetError(f"{name} {version} is production: a canary of it rolls nothing")
            if aliases.canary is not None:
                raise TargetError(
                    f"{name} {aliases.canary.version} is being rolled out already "
                    f"(at {aliases.canary.weight:g}%)"
                )
            self._write_history(name, aliases.history, canary=Canary(version=version))
            lease = None
            if lease_ttl_s is not None:
                lease = Lease(
                    id=uuid.uuid4().hex[:12], model=name, version=version, holder=actor,
                    expires_at=datetime.fromtimestamp(self.clock() + lease_ttl_s, tz=UTC),
                    kind="canary",
                )  # fmt: skip
                self._write_leases([*self._leases(), lease])
            entry = self._audit(name, "canary_start", aliases.production, version, actor,
                                reason, lease)  # fmt: skip
        return entry, lease

    def set_canary_weight(
        self, name: str, version: str, weight: float, actor: str
    ) -> AuditEntry | None:
        """Give the canary ``weight`` % of the requests; None (nothing moved) when ``version``
        is no longer the canary: it was aborted or withdrawn meanwhile."""
        if not 0 <= weight <= 100:
            raise TargetError(f"a canary's weight is a percentage, not {weight:g}")
        with self._locked():
            aliases = self.aliases(name)
            if aliases.canary is None or aliases.canary.version != version:
                return None
            self._write_history(name, aliases.history,
                                canary=Canary(version=version, weight=weight))  # fmt: skip
            return self._audit(name, "canary_weight", aliases.production, version, actor,
                               f"{weight:g}%", None)  # fmt: skip

    def promote_canary(
        self, name: str, version: str, actor: str, reason: str = ""
    ) -> AuditEntry | None:
        """Make the canary production (the rollout's last step); None when ``version`` is no
        longer the canary."""
        with self._locked():
            aliases = self.aliases(name)
            if aliases.canary is None or aliases.canary.version != version:
                return None
            self._write_history(name, (*aliases.history, version), canary=None)
            return self._audit(name, "promote", aliases.production, version, actor, reason,
                               None)  # fmt: skip

    def abort_canary(
        self, name: str, actor: str, reason: str = "", version: str | None = None
    ) -> AuditEntry | None:
        """Withdraw the canary (``version`` only, if given): production answers every request
        again. None when there was nothing to withdraw."""
        with self._locked():
            return self._abort_canary(name, actor, reason, version, lease=None)

    # -- leases --------------------------------------------------------------------------

    def leases(self) -> list[Lease]:
        return self._leases()

    def release(self, lease_id: str, actor: str, action: str = "lease_released") -> AuditEntry:
        """End a lease: undo its promotion if it still holds. The audit entry records the end."""
        with self._locked():
            lease = next((le for le in self._leases() if le.id == lease_id), None)
            if lease is None:
                raise TargetError(f"no active lease {lease_id!r}; it was released or expired")
            self._write_leases([le for le in self._leases() if le.id != lease_id])
            withdrawn = None
            if lease.kind == "canary":
                withdrawn = self._abort_canary(lease.model, actor, action, lease.version, lease)
            undone = self._rollback(lease.model, actor, action, lease.version, lease=lease)
            done = undone or withdrawn
            if done is not None:
                return done
            return self._audit(lease.model, action, None, None, actor, "already undone", lease)

    def expire_leases(self) -> list[AuditEntry]:
        """Undo every lease whose TTL has run out. The registry server calls this on a timer."""
        now = now_utc(self.clock)
        expired = [le for le in self._leases() if le.expires_at <= now]
        return [self.release(le.id, actor="registry", action="lease_expired") for le in expired]

    # -- audit ---------------------------------------------------------------------------

    def audit(self, name: str) -> list[AuditEntry]:
        path = self._model_dir(name) / "audit.jsonl"
        if not path.exists():
            return []
        return [AuditEntry.model_validate_json(line) for line in path.read_text().splitlines()]

    # -- internals -----------------------------------------------------------------------

    def _rollback(
        self, name: str, actor: str, reason: str, from_version: str | None, lease: Lease | None
    ) -> AuditEntry | None:
        history = self._history(name)
        if len(history) < 2 or (from_version is not None and history[-1] != from_version):
            return None
        self._write_history(name, history[:-1])
        return self._audit(name, "rollback", history[-1], history[-2], actor, reason, lease)

    def _abort_canary(
        self, name: str, actor: str, reason: str, version: str | None, lease: Lease | None
    ) -> AuditEntry | None:
        aliases = self.aliases(name)
        canary = aliases.canary
        if canary is None or (version is not None and canary.version != version):
            return None
        self._write_history(name, aliases.history, canary=None)
        return self._audit(name, "canary_abort", canary.version, aliases.production, actor,
                           reason, lease)  # fmt: skip

    def _audit(
        self,
        name: str,
        action: str,
        from_version: str | None,
        to_version: str | None,
        actor: str,
        reason: str,
        lease: Lease | None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at=now_utc(self.clock),
            model=name,
            action=action,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
            lease_id=lease.id if lease else None,
        )
        path = self._model_dir(name) / "audit.jsonl"
        with path.open("a") as log:
            log.write(entry.model_dump_json() + "\n")
            log.flush()
            os.fsync(log.fileno())
        return entry

    def _model_dir(self, name: str) -> Path:
        path = self.root / "models" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _versions(self, name: str) -> dict[str, dict[str, Any]]:
        path = self._model_dir(name) / "versions.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def _history(self, name: str) -> tuple[str, ...]:
        path = self.aliases_path(name)
        return Aliases.model_validate_json(path.read_text()).history if path.exists() else ()

    def _write_history(
        self, name: str, history: tuple[str, ...], fallback: bool | None = None,
        canary: Canary | Literal["kept"] | None = "kept",
    ) -> None:  # fmt: skip
        """A promotion or rollback leaves the fallback switch and the canary as they were."""
        path = self.aliases_path(name)
        before = Aliases.model_validate_json(path.read_text()) if path.exists() else None
        if fallback is None:
            fallback = before is not None and before.fallback
        if canary == "kept":
            canary = before.canary if before is not None else None
        previous = history[-2] if len(history) > 1 else None
        body = {
            "history": list(history),
            "production": history[-1],
            "previous": previous,
            "fallback": fallback,
            "canary": canary.model_dump() if isinstance(canary, Canary) else None,
        }
        _atomic_write(self.aliases_path(name), json.dumps(body, indent=2))

    def _leases(self) -> list[Lease]:
        path = self.root / "leases.json"
        if not path.exists():
            return []
        return [Lease.model_validate(item) for item in json.loads(path.read_text())]

    def _write_leases(self, leases: list[Lease]) -> None:
        _atomic_write(
            self.root / "leases.json", json.dumps([le.model_dump(mode="json") for le in leases])
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _atomic_write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
