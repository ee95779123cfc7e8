"""``missing_features``: replace features' values with null or NaN, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.gateway.contract import Lease, RequestFault
from mlchaos.protocols import Column
from mlchaos.schema.experiment import MissingFeaturesFault
from mlchaos.service import Service

__all__ = ["FAULT", "OnRequest", "params"]


def params(service: Service, fault: MissingFeaturesFault) -> dict[str, Any]:
    return {"features": list(fault.features), "value": fault.value}


class OnRequest(RequestFault):
    """At the gateway: the named features' values in the selected request, null or NaN."""

    stage = "request"

    def changes_something(self, params: dict[str, Any]) -> bool:
        return bool(params.get("features"))

    def rewrite(self, lease: Lease, columns: list[Column]) -> list[Column]:
        missing = float("nan") if lease.params.get("value", "null") == "nan" else None
        named = set(lease.params["features"])
        for c in columns:
            if c.name in named:
                c.values = [missing for _ in c.values]
        return columns


FAULT = GatewayFault("missing_features", params, on_request=OnRequest())
