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
from mlchaos.faults.leases import record_granted, record_injected, record_intent
from mlchaos.observe.registry import RegistryClient
from mlchaos.reference.versions import bad_version_name, segment_version_name
from mlchaos.schema.experiment import BadVersionFault, SegmentRegressionFault
from mlchaos.service import Service

AnyRegistryFault = BadVersionFault | SegmentRegressionFault

ACTOR = "mlchaos"
TARGET = "registry"


def version_of(fault: AnyRegistryFault) -> str:
    """The registry version the fault promotes."""
    if isinstance(fault, SegmentRegressionFault):
        return segment_version_name(str(fault.segment))
    return bad_version_name(fault.variant)


def inject(journal: Journal, service: Service, fault: AnyRegistryFault) -> str:
    """Promote the fault's broken version; return the lease id."""
    version = version_of(fault)
    if service.registry_url is None:
        raise TargetError("bad_version needs a registry: set endpoints.registry in the service")
    registry = RegistryClient(service.registry_url)
    intent = record_intent(
        journal,
        TARGET,
        undo=f"roll {fault.model} back from {version} if it is still production",
        url=service.registry_url,
        model=fault.model,
        version=version,
        ttl_s=fault.ttl,
    )
    answer = registry.promote(fault.model, version, ACTOR, f"chaos: {fault.type}", fault.ttl)
    audit, lease = answer["audit"], answer["lease"]
    record_granted(journal, intent, lease["id"], lease["expires_at"])
    record_injected(
        journal,
        audit["at"],
        "registry audit log (promote)",
        {"model": fault.model, "version": version, "replaced": audit["from_version"]},
    )
    return str(lease["id"])


def confirm(
    journal: Journal, service: Service, fault: AnyRegistryFault, timeout_s: float = 5.0
) -> bool:
    """Live once a real inference, sent the way clients send it, is answered by the bad
    version: the registry saying so is not enough if traffic goes elsewhere."""
    version = version_of(fault)
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        seen = _answering_version(service, fault.model)
        if seen == version:
            journal.write(
                "fault_active", active=True, evidence=f"inferences are answered by {version}"
            )
            return True
        time.sleep(0.05)
    journal.write(
        "fault_active",
        active=False,
        evidence=f"inferences are still answered by {seen!r} after {timeout_s:g}s, not {version!r}",
    )
    return False


def _answering_version(service: Service, model: str) -> str | None:
    from mlchaos.reference.dataset import FEATURES, REPLAY_SEED, generate

    row = generate(1, seed=REPLAY_SEED).features[0]
    body = {
        "inputs": [
            {"name": f, "datatype": "FP64", "shape": [1], "data": [float(v)]}
            for f, v in zip(FEATURES, row, strict=True)
        ]
    }
    try:
        answer = requests.post(f"{service.model_url}/v2/models/{model}/infer", json=body, timeout=2)
    except requests.RequestException:
        return None
    return answer.headers.get("x-model-version")


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    registry = RegistryClient(intent["url"])
    model, version = intent["model"], intent["version"]
    answer = registry.release(lease_id, ACTOR) if lease_id else None
    if answer is not None:
        return dict(answer["audit"])
    return _undo_without_lease(registry, model, version, lease_id)


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
    return {
        "action": "already undone",
        "at": datetime.now(UTC).isoformat(),
        "actor": ACTOR,
        "reason": f"production is already {production}",
    }
