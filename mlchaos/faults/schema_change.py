"""``schema_change``: rename, drop or retype features in request bodies, at the gateway."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.gateway.contract import Lease, RequestFault
from mlchaos.protocols import Column
from mlchaos.schema.experiment import SchemaChangeFault
from mlchaos.service import Service

__all__ = ["FAULT", "OnRequest", "params"]


def params(service: Service, fault: SchemaChangeFault) -> dict[str, Any]:
    return {"rename": dict(fault.rename), "drop": list(fault.drop), "retype": dict(fault.retype)}


class OnRequest(RequestFault):
    """At the gateway: the selected request's columns dropped, retyped to text, renamed."""

    stage = "request"

    def changes_something(self, params: dict[str, Any]) -> bool:
        return bool(params.get("rename") or params.get("drop") or params.get("retype"))

    def rewrite(self, lease: Lease, columns: list[Column]) -> list[Column]:
        p = lease.params
        drops, renames, retypes = set(p.get("drop", [])), p.get("rename", {}), p.get("retype", {})
        kept = [c for c in columns if c.name not in drops]
        for c in kept:
            if c.name in retypes:
                c.values, c.string = [str(v) for v in c.values], True
            c.name = renames.get(c.name, c.name)
        return kept


FAULT = GatewayFault("schema_change", params, on_request=OnRequest())
