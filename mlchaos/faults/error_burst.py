"""``error_burst``: answer requests with a 5xx before they reach the model, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.schema.experiment import ErrorBurstFault
from mlchaos.service import Service

__all__ = ["FAULT", "params"]


def params(service: Service, fault: ErrorBurstFault) -> dict[str, Any]:
    return {"status": fault.status}


FAULT = GatewayFault("error_burst", params)
