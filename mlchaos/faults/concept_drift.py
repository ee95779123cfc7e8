"""``concept_drift``: the true outcome of a share of requests becomes the opposite one.

The gateway flips the labels posted back for the requests it selected; it is confirmed only
once such labels arrive, after the label lag, so it is given longer to show.
"""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.gateway.contract import Lease, RequestFault
from mlchaos.schema.experiment import ConceptDriftFault
from mlchaos.service import Service

__all__ = ["FAULT", "OnRequest", "params"]


def params(service: Service, fault: ConceptDriftFault) -> dict[str, Any]:
    return {}


class OnRequest(RequestFault):
    """At the gateway: the label later posted for a selected request is the other one
    (labels of requests made before the lease are left as they were)."""

    stage = "label"

    def mark(self, lease: Lease, request_id: str) -> None:
        lease.marked.add(request_id)

    def relabel(self, lease: Lease, item: dict[str, Any]) -> dict[str, Any] | None:
        if str(item.get("id")) not in lease.marked:
            return None
        lease.marked.discard(str(item["id"]))
        return {**item, "label": 1 - int(item["label"])}


FAULT = GatewayFault("concept_drift", params, confirm_timeout_s=30.0, on_request=OnRequest())
