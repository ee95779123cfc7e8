"""``missing_features``: replace features' values with null or NaN, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.schema.experiment import MissingFeaturesFault
from mlchaos.service import Service

__all__ = ["FAULT", "params"]


def params(service: Service, fault: MissingFeaturesFault) -> dict[str, Any]:
    return {"features": list(fault.features), "value": fault.value}


FAULT = GatewayFault("missing_features", params, rewrites_body=True)
