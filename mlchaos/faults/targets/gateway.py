"""Faults the chaos gateway applies to requests, under a lease the gateway ends by itself.

Each gateway fault type (`mlchaos.faults.schema_change`, ...) only says what the gateway
needs to apply it (its ``params``); injecting, confirming and ending the lease are here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from mlchaos.errors import TargetError
from mlchaos.faults.confirm import poll
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.gateway.contract import RequestFault
from mlchaos.journal import Journal, LeaseAcquired
from mlchaos.observe import adapters
from mlchaos.schema.experiment import GatewayFault as GatewayFaultSpec
from mlchaos.service import Service

__all__ = ["TARGET", "GatewayFault", "end_lease"]

TARGET = "gateway"
F = TypeVar("F", bound=GatewayFaultSpec)


@dataclass(frozen=True)
class GatewayFault(Generic[F]):
    """A fault type the gateway applies: its name, the gateway parameters of a fault (the
    runner's half), and what it does to a request (the gateway's half)."""

    type: str
    params: Callable[[Service, F], dict[str, Any]]
    on_request: RequestFault
    confirm_timeout_s: float = 5.0
    """A fault on labels shows only once labels arrive, after the label lag: it is longer."""
    check: Callable[[Service, F], list[tuple[str, str]]] = lambda service, fault: []
    TARGET = TARGET

    @property
    def rewrites_body(self) -> bool:
        """It changes request bodies: the gateway is told the service's protocol to read them."""
        return self.on_request.stage == "request"

    def misfits(self, service: Service, fault: F) -> list[tuple[str, str]]:
        return self.check(service, fault)

    def ready(self, service: Service, fault: F) -> str:
        """The gateway's parameters for it, worked out as injecting would (a drift's sigma
        included), with nothing sent to the gateway."""
        shown = ", ".join(f"{k}={v}" for k, v in self.params(service, fault).items())
        return f"the gateway would apply {self.type} ({shown}) to {fault.share:.0%} of requests"

    def inject(self, journal: Journal, service: Service, fault: F) -> str:
        params = self.params(service, fault)
        if self.rewrites_body:
            params["codec"] = asdict(service.codec())
        intent = record_intent(
            journal,
            TARGET,
            undo=f"end the {self.type} lease on the gateway",
            url=service.gateway_url,
            kind=service.adapters.traffic,
            fault=self.type,
            ttl_s=fault.ttl,
        )
        answer = adapters.traffic(service).inject(
            self.type, params, fault.share, fault.seed, fault.ttl, ACTOR
        )
        lease, audit = answer["lease"], answer["audit"]
        record_granted(journal, intent, lease["id"], lease["expires_at"])
        record_injected(
            journal,
            audit["at"],
            "gateway audit log (inject)",
            {"fault": self.type, "params": lease.get("params", params), "share": fault.share},
        )
        return str(lease["id"])

    def confirm(self, journal: Journal, service: Service, fault: F) -> bool:
        """Live means requests were actually changed by it, not merely that a lease exists."""
        lease_id, gateway = _lease_id(journal), adapters.traffic(service)

        seen: dict[str, Any] = {}

        def applied() -> str | None:
            seen.update({le["id"]: le for le in gateway.faults()}.get(lease_id, {}))
            count = int(seen.get("applied", 0))
            return f"the gateway applied it to {count} request(s)" if count else None

        timeout = self.confirm_timeout_s
        return poll(journal, applied, timeout, lambda: _not_applied(seen, timeout))

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return end_lease(journal, intent, lease_id)


def _not_applied(lease: dict[str, Any], timeout_s: float) -> str:
    """Why no request was changed: none selected, or none the gateway could rewrite."""
    missed = int(lease.get("unrewritten", 0))
    if missed:
        return (
            f"the gateway could not apply it to any of the {missed} request(s) it selected in "
            f"{timeout_s:g}s: {lease.get('why_not') or 'no reason given'}"
        )
    return f"the gateway applied it to no request in {timeout_s:g}s"


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    gateway = adapters.traffic_at(intent["url"], intent.get("kind", "gateway"))
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
    granted = journal.of(LeaseAcquired)
    return granted[-1].lease_id if granted else ""
