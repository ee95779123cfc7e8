"""Faults the chaos gateway applies to requests: schema change, data drift, latency spike,
error burst and missing features.

A drift given in training sigmas is turned into an absolute shift here, from the reference the
model server publishes in its metadata, so the gateway stays model-agnostic.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import requests

from mlchaos.engine.journal import Journal
from mlchaos.errors import TargetError
from mlchaos.faults.leases import record_granted, record_injected, record_intent
from mlchaos.observe.gateway import GatewayClient
from mlchaos.schema.experiment import GATEWAY_FAULT_TYPES, AnyGatewayFault
from mlchaos.service import Service

ACTOR = "mlchaos"
TARGET = "gateway"
TYPES = GATEWAY_FAULT_TYPES


def params_of(service: Service, fault: AnyGatewayFault) -> dict[str, Any]:
    """What the gateway needs to apply ``fault``."""
    if fault.type == "schema_change":
        return {
            "rename": dict(fault.rename),
            "drop": list(fault.drop),
            "retype": dict(fault.retype),
        }
    if fault.type == "data_drift" and fault.mix:
        [(segment, share)] = fault.mix.items()
        return {"feature": "age", "mix": {"segment": segment, "share": share}}
    if fault.type == "data_drift" and fault.feature is not None:
        std = _reference_std(service, fault.feature)
        return {
            "feature": fault.feature,
            "shift": fault.shift * std,
            "scale": fault.scale,
            "shift_sigma": fault.shift,
        }
    if fault.type == "latency_spike":
        return {"delay_s": fault.delay, "distribution": fault.distribution}
    if fault.type == "error_burst":
        return {"status": fault.status}
    if fault.type == "missing_features":
        return {"features": list(fault.features), "value": fault.value}
    if fault.type == "concept_drift":
        return {}
    raise TargetError(f"the gateway does not apply {fault.type}")


def inject(journal: Journal, service: Service, fault: AnyGatewayFault) -> str:
    kind = str(fault.type)
    params = params_of(service, fault)
    intent = record_intent(
        journal,
        TARGET,
        undo=f"end the {kind} lease on the gateway",
        url=service.gateway_url,
        fault=kind,
        ttl_s=fault.ttl,
    )
    answer = GatewayClient(service.gateway_url).inject(
        kind, params, fault.share, fault.seed, fault.ttl, ACTOR
    )
    lease, audit = answer["lease"], answer["audit"]
    record_granted(journal, intent, lease["id"], lease["expires_at"])
    record_injected(
        journal,
        audit["at"],
        "gateway audit log (inject)",
        {"fault": kind, "params": params, "share": fault.share},
    )
    return str(lease["id"])


def confirm(
    journal: Journal, service: Service, fault: AnyGatewayFault, timeout_s: float = 5.0
) -> bool:
    """Live means requests were actually changed by it, not merely that a lease exists.

    A fault on labels shows only once labels arrive, after the label lag: it gets longer.
    """
    if fault.type == "concept_drift":
        timeout_s = max(timeout_s, 30.0)
    lease_id = _lease_id(journal)
    deadline = time.monotonic() + timeout_s
    applied = 0
    gateway = GatewayClient(service.gateway_url)
    while time.monotonic() < deadline:
        leases = {le["id"]: le for le in gateway.faults()}
        applied = int(leases.get(lease_id, {}).get("applied", 0))
        if applied > 0:
            journal.write(
                "fault_active",
                active=True,
                evidence=f"the gateway applied it to {applied} request(s)",
            )
            return True
        time.sleep(0.05)
    journal.write(
        "fault_active",
        active=False,
        evidence=f"the gateway applied it to no request in {timeout_s:g}s",
    )
    return False


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    gateway = GatewayClient(intent["url"])
    answer = gateway.end(lease_id, ACTOR) if lease_id else None
    if answer is not None:
        return dict(answer["audit"])
    ends = [
        e
        for e in gateway.audit()
        if lease_id and e.get("lease_id") == lease_id and e["action"] != "inject"
    ]
    if ends:
        return dict(ends[-1])
    if any(le["id"] == lease_id for le in gateway.faults()):
        raise TargetError(f"the gateway still holds lease {lease_id}; end it by hand")
    return {
        "action": "already ended",
        "at": datetime.now(UTC).isoformat(),
        "actor": ACTOR,
        "reason": "the gateway holds no such lease",
    }


def _lease_id(journal: Journal) -> str:
    granted = [r for r in journal.read() if r["type"] == "lease_acquired"]
    return str(granted[-1]["lease_id"]) if granted else ""


def _reference_std(service: Service, feature: str) -> float:
    url = f"{service.model_url}/v2/models/{service.model}"
    reference = requests.get(url, timeout=5).json()["parameters"]["reference"]
    if feature not in reference["features"]:
        known = ", ".join(reference["features"])
        raise TargetError(f"data_drift: the model has no feature {feature!r} (it has {known})")
    return float(reference["stds"][reference["features"].index(feature)])
