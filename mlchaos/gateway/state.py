"""The gateway's leases and its audit log, shared by the request path and the admin API."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.gateway.contract import FaultError, Lease, behaviour

__all__ = ["GatewayState", "now_utc", "validate_fault"]


def now_utc() -> datetime:
    return datetime.now(UTC)


def validate_fault(kind: str, params: dict[str, Any]) -> None:
    """Reject a fault that would do nothing or that the gateway cannot apply."""
    if not behaviour(kind).changes_something(params):
        raise FaultError(f"{kind} with params {params} would change nothing")


class GatewayState:
    """Leases and the audit log, shared by the request path and the admin API, and by every
    worker of one gateway: the leases are a file beside the audit log, changed under a lock.

    Each worker holds its own `Lease` objects (its own draws, from the lease's seed, and its
    own counts) and `refresh`es them from the file when it changes; each ends a lease past its
    TTL by itself (`expire`), so a TTL holds in every worker whatever happens to the others.
    The worker that takes a lease out of the file writes the one audit entry for it."""

    def __init__(self, audit_path: Path, clock: Callable[[], float] = time.time) -> None:
        self.audit_path = audit_path
        self.leases_path = audit_path.with_suffix(".leases.json")
        self.lock_path = audit_path.with_suffix(".lock")
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self._seen: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self.on_adopt: Callable[[], None] | None = None
        """Called when a lease is taken up here (injected, or read from the file)."""

    def inject(
        self, kind: str, params: dict[str, Any], share: float, seed: int, ttl_s: float, holder: str
    ) -> tuple[Lease, dict[str, Any]]:
        validate_fault(kind, params)
        if not 0 < share <= 1:
            raise FaultError(f"share must be in (0, 1], got {share}")
        if ttl_s <= 0:
            raise FaultError(f"ttl_s must be positive, got {ttl_s}")
        record = {
            "id": uuid.uuid4().hex[:12],
            "type": kind,
            "params": params,
            "share": share,
            "seed": seed,
            "holder": holder,
            "created_at": now_utc().isoformat(),
            "expires_at": datetime.fromtimestamp(self.clock() + ttl_s, UTC).isoformat(),
        }
        with self._shared() as records:
            records.append(record)
            lease = self._adopt(record)
            entry = self._audit("inject", holder, lease=lease)
        return lease, entry

    def end(self, lease_id: str, actor: str, action: str = "revert") -> dict[str, Any]:
        """End a lease in the file and here; `KeyError` if it had ended already."""
        with self._shared() as records:
            found = [r for r in records if r["id"] == lease_id]
            lease = self.leases.pop(lease_id, None)
            if lease is not None:
                lease.ended.set()
            if not found:
                raise KeyError(lease_id)
            records[:] = [r for r in records if r["id"] != lease_id]
            if lease is None:  # injected through another worker, not taken up here yet
                lease = self._lease(found[0])
            return self._audit(action, actor, lease=lease)

    def expire(self) -> list[dict[str, Any]]:
        """Leases past their TTL end here at once; the worker that takes one out of the file
        writes its audit entry."""
        now = now_utc()
        expired = [lid for lid, le in list(self.leases.items()) if le.expires_at <= now]
        entries = []
        for lid in expired:
            with contextlib.suppress(KeyError):  # another worker took it out, wrote its entry
                entries.append(self.end(lid, actor="gateway", action="expire"))
        return entries

    def refresh(self) -> bool:
        """Take up the leases other workers injected, and let go of those they ended; True
        when something changed."""
        try:
            stat = self.leases_path.stat()
        except FileNotFoundError:
            stat = None
        seen = None if stat is None else (stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return False
        self._seen = seen
        records = self._read()
        ids = {r["id"] for r in records}
        changed = False
        for lid in [lid for lid in self.leases if lid not in ids]:
            self.leases.pop(lid).ended.set()
            changed = True
        for record in records:
            if record["id"] not in self.leases:
                self._adopt(record)
                changed = True
        return changed

    def active(self) -> list[Lease]:
        return list(self.leases.values())

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def _adopt(self, record: dict[str, Any]) -> Lease:
        lease = self.leases[record["id"]] = self._lease(record)
        if self.on_adopt is not None:
            self.on_adopt()
        return lease

    def _lease(self, record: dict[str, Any]) -> Lease:
        return Lease(
            id=record["id"],
            type=record["type"],
            params=record["params"],
            share=float(record["share"]),
            seed=int(record["seed"]),
            holder=record["holder"],
            created_at=datetime.fromisoformat(record["created_at"]),
            expires_at=datetime.fromisoformat(record["expires_at"]),
            rng=random.Random(int(record["seed"])),  # the same stream in every worker
            fault=behaviour(record["type"]),
        )

    def _read(self) -> list[dict[str, Any]]:
        try:
            records = json.loads(self.leases_path.read_bytes() or b"[]")
        except FileNotFoundError:
            return []
        except ValueError:
            return []  # never written whole: the writer replaces it in one rename
        return [r for r in records if isinstance(r, dict)]

    @contextlib.contextmanager
    def _shared(self) -> Iterator[list[dict[str, Any]]]:
        """The file's leases, under the lock every worker takes; written back on the way out."""
        with self._lock, self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                records = self._read()
                before = json.dumps(records)
                yield records
                if json.dumps(records) != before:
                    staged = self.leases_path.with_suffix(".tmp")
                    staged.write_text(json.dumps(records))
                    os.replace(staged, self.leases_path)
                stat = self.leases_path.stat() if self.leases_path.exists() else None
                self._seen = None if stat is None else (stat.st_mtime_ns, stat.st_size)
                self._sync(records)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _sync(self, records: list[dict[str, Any]]) -> None:
        ids = {r["id"] for r in records}
        for lid in [lid for lid in self.leases if lid not in ids]:
            self.leases.pop(lid).ended.set()
        for record in records:
            if record["id"] not in self.leases:
                self._adopt(record)

    def _audit(
        self, action: str, actor: str, lease: Lease | None = None, **extra: Any
    ) -> dict[str, Any]:
        entry = {"at": now_utc().isoformat(), "action": action, "actor": actor, **extra}
        if lease is not None:
            entry.update(lease_id=lease.id, fault=lease.type, applied=lease.applied)
        with self.audit_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")
        return entry
