"""The gateway's leases and its audit log, shared by the request path and the admin API."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
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
    """Leases and the audit log; shared by the request path and the admin API."""

    def __init__(self, audit_path: Path, clock: Callable[[], float] = time.time) -> None:
        self.audit_path = audit_path
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def inject(
        self, kind: str, params: dict[str, Any], share: float, seed: int, ttl_s: float, holder: str
    ) -> tuple[Lease, dict[str, Any]]:
        validate_fault(kind, params)
        if not 0 < share <= 1:
            raise FaultError(f"share must be in (0, 1], got {share}")
        if ttl_s <= 0:
            raise FaultError(f"ttl_s must be positive, got {ttl_s}")
        created = now_utc()
        lease = Lease(
            id=uuid.uuid4().hex[:12],
            type=kind,
            params=params,
            share=share,
            seed=seed,
            holder=holder,
            created_at=created,
            expires_at=datetime.fromtimestamp(self.clock() + ttl_s, UTC),
            rng=random.Random(seed),
            fault=behaviour(kind),
        )
        with self._lock:
            self.leases[lease.id] = lease
            entry = self._audit("inject", holder, lease=lease)
        return lease, entry

    def end(self, lease_id: str, actor: str, action: str = "revert") -> dict[str, Any]:
        with self._lock:
            lease = self.leases.pop(lease_id, None)
            if lease is None:
                raise KeyError(lease_id)
            lease.ended.set()
            return self._audit(action, actor, lease=lease)

    def expire(self) -> list[dict[str, Any]]:
        now = now_utc()
        expired = [lid for lid, le in list(self.leases.items()) if le.expires_at <= now]
        return [self.end(lid, actor="gateway", action="expire") for lid in expired]

    def active(self) -> list[Lease]:
        return list(self.leases.values())

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def _audit(
        self, action: str, actor: str, lease: Lease | None = None, **extra: Any
    ) -> dict[str, Any]:
        entry = {"at": now_utc().isoformat(), "action": action, "actor": actor, **extra}
        if lease is not None:
            entry.update(lease_id=lease.id, fault=lease.type, applied=lease.applied)
        with self.audit_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")
        return entry
