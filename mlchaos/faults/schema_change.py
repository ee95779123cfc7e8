"""``schema_change``: rename, drop or retype features in request bodies, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.schema.experiment import SchemaChangeFault
from mlchaos.service import Service

__all__ = ["FAULT", "params"]


def params(service: Service, fault: SchemaChangeFault) -> dict[str, Any]:
    return {"rename": dict(fault.rename), "drop": list(fault.drop), "retype": dict(fault.retype)}


FAULT = GatewayFault("schema_change", params, rewrites_body=True)
