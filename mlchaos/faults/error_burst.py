"""``error_burst``: answer requests with a 5xx before they reach the model, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.gateway.contract import Lease, RequestFault
from mlchaos.schema.experiment import ErrorBurstFault
from mlchaos.service import Service

__all__ = ["FAULT", "OnRequest", "params"]


def params(service: Service, fault: ErrorBurstFault) -> dict[str, Any]:
    return {"status": fault.status}


class OnRequest(RequestFault):
    """At the gateway: the answers of the versions it is on, replaced by a 5xx."""

    stage = "answer"

    def changes_something(self, params: dict[str, Any]) -> bool:
        return 500 <= int(params.get("status", 503)) <= 599

    def answer(self, lease: Lease) -> tuple[int, dict[str, Any]] | None:
        return int(lease.params.get("status", 503)), {"error": "upstream error (injected)"}


FAULT = GatewayFault("error_burst", params, on_request=OnRequest())
