"""``latency_spike``: delay requests on their way to the model, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.schema.experiment import LatencySpikeFault
from mlchaos.service import Service

__all__ = ["FAULT", "params"]


def params(service: Service, fault: LatencySpikeFault) -> dict[str, Any]:
    return {"delay_s": fault.delay, "distribution": fault.distribution}


FAULT = GatewayFault("latency_spike", params)
