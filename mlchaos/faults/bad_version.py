"""The ``bad_version`` fault: promote a broken artifact, under a lease the registry enforces.

The undo is recorded in the journal before the promotion, and the registry reverts the
promotion by itself when the lease's TTL runs out, so a `kill -9` of the runner cannot leave
the bad version serving.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import requests

from mlchaos.engine.journal import Journal
from mlchaos.errors import TargetError
from mlchaos.observe.registry import RegistryClient
from mlchaos.stack.training import bad_version_name

ACTOR = "mlchaos"


def inject(journal: Journal, registry_url: str, model: str, variant: str, ttl_s: float) -> str:
    """Promote the bad version of ``variant``; return the lease id."""
    version = bad_version_name(variant)
    registry = RegistryClient(registry_url)
    journal.write(
        "lease",
        target="registry",
        registry_url=registry_url,
        model=model,
        version=version,
        ttl_s=ttl_s,
        undo=f"roll {model} back from {version} if it is still production",
    )
    answer = registry.promote(model, version, ACTOR, f"chaos: bad_version {variant}", ttl_s)
    audit, lease = answer["audit"], answer["lease"]
    journal.write("lease_acquired", lease_id=lease["id"], expires_at=lease["expires_at"])
    journal.write(
        "event",
        event="injected",
        time=audit["at"],
        source="registry audit log (promote)",
        detail={"model": model, "version": version, "replaced": audit["from_version"]},
    )
    return str(lease["id"])


def confirm_active(
    journal: Journal, model_url: str, model: str, version: str, timeout_s: float = 5.0
) -> bool:
    """Wait until the model server answers inferences with the bad version; record the result."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = requests.get(f"{model_url}/v2/models/{model}", timeout=2).json()["versions"][0]
        except (requests.RequestException, ValueError, KeyError, IndexError):
            seen = None
        if seen == version:
            journal.write("fault_active", active=True, evidence=f"model server serves {version}")
            return True
        time.sleep(0.05)
    journal.write(
        "fault_active",
        active=False,
        evidence=f"model server still serves {seen!r} after {timeout_s:g}s, not {version!r}",
    )
    return False


def revert(journal: Journal) -> dict[str, Any]:
    """End every lease this journal holds that is not yet reverted; record ``reverted``."""
    records = journal.read()
    done = {r["lease_id"] for r in records if r["type"] == "lease_ended"}
    intents = [r for r in records if r["type"] == "lease"]
    acquired = [r["lease_id"] for r in records if r["type"] == "lease_acquired"]
    result: dict[str, Any] = {}
    for intent, lease_id in zip(intents, acquired + [None] * len(intents), strict=False):
        if lease_id in done:
            continue
        result = _end_lease(journal, intent, lease_id)
    return result


def _end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    registry = RegistryClient(intent["registry_url"])
    model, version = intent["model"], intent["version"]
    answer = registry.release(lease_id, ACTOR) if lease_id else None
    audit = answer["audit"] if answer else _undo_without_lease(registry, model, version, lease_id)
    journal.write("lease_ended", lease_id=lease_id, action=audit["action"])
    journal.write(
        "event",
        event="reverted",
        time=audit["at"],
        source=f"registry audit log ({audit['action']})",
        detail={"by": audit["actor"], "note": audit.get("reason", "")},
    )
    return dict(audit)


def _undo_without_lease(
    registry: RegistryClient, model: str, version: str, lease_id: str | None
) -> dict[str, Any]:
    """The registry no longer holds the lease: it expired, or was never granted."""
    expired = [
        e
        for e in registry.audit(model)
        if lease_id and e["lease_id"] == lease_id and e["action"] != "promote"
    ]
    if expired:
        return dict(expired[-1])
    undone = registry.rollback(model, ACTOR, "revert", from_version=version)["audit"]
    if undone:
        return dict(undone)
    production = registry.model(model)["production"]
    if production == version:
        raise TargetError(f"could not move {model} off {version}; roll it back by hand")
    now = datetime.now(UTC).isoformat()
    return {
        "action": "already undone",
        "at": now,
        "actor": ACTOR,
        "reason": f"production is already {production}",
    }
