"""``latency_spike``: delay requests on their way to the model, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.gateway.contract import Lease, RequestFault
from mlchaos.schema.experiment import LatencySpikeFault
from mlchaos.service import Service

__all__ = ["FAULT", "OnRequest", "params"]


def params(service: Service, fault: LatencySpikeFault) -> dict[str, Any]:
    return {"delay_s": fault.delay, "distribution": fault.distribution}


class OnRequest(RequestFault):
    """At the gateway: the answers of the versions it is on, held ``delay_s`` (its mean, when
    exponential), never longer than the lease lasts."""

    stage = "answer"

    def changes_something(self, params: dict[str, Any]) -> bool:
        return float(params.get("delay_s", 0)) > 0

    def delay(self, lease: Lease) -> float:
        mean = float(lease.params["delay_s"])
        if lease.params.get("distribution") == "exponential":
            return lease.rng.expovariate(1.0 / mean)
        return mean


FAULT = GatewayFault("latency_spike", params, on_request=OnRequest())
