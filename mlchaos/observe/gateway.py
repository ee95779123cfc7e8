"""The chaos gateway's admin API: fault leases, the route, and its audit log."""

from __future__ import annotations

import os
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.observe.api import JsonApi

__all__ = ["TOKEN_ENV", "GatewayClient"]

TOKEN_ENV = "MLCHAOS_GATEWAY_TOKEN"


class GatewayClient(JsonApi):
    """Sends the admin API's token when ``$MLCHAOS_GATEWAY_TOKEN`` holds one (read here,
    never stored in a journal or a report)."""

    name = "gateway"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        super().__init__(url, timeout_s)
        token = os.environ.get(TOKEN_ENV)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def inject(
        self, kind: str, params: dict[str, Any], share: float, seed: int, ttl_s: float, holder: str
    ) -> dict[str, Any]:
        body = {
            "type": kind,
            "params": params,
            "share": share,
            "seed": seed,
            "ttl_s": ttl_s,
            "holder": holder,
        }
        return self._call("POST", "/admin/faults", json=body)

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/admin/faults")["faults"])

    def end(self, lease_id: str, actor: str) -> dict[str, Any] | None:
        """End a lease; None if the gateway no longer holds it (ended or expired)."""
        try:
            return self._call("DELETE", f"/admin/faults/{lease_id}", params={"actor": actor})
        except TargetError:
            return None

    def route(self, target: str, actor: str, reason: str) -> dict[str, Any]:
        body = {"target": target, "actor": actor, "reason": reason}
        return dict(self._call("POST", "/admin/route", json=body)["audit"])

    def route_now(self) -> str:
        return str(self._call("GET", "/admin/audit")["route"])

    def audit(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/admin/audit")["audit"])

    def versions(self, since: float) -> list[tuple[int, str, int]]:
        """``(second, version, answers)`` from ``since``: which model version answered."""
        answer = self._call("GET", "/admin/outcomes", params={"since": since})
        return [(int(s), str(v), int(n)) for s, v, n in answer.get("versions", [])]

    def outcomes(self, since: float) -> tuple[list[tuple[int, int, int]], float]:
        """``(second, answered, ok)`` for each second from ``since`` (epoch seconds) that saw
        an inference request, and the gateway's clock now."""
        answer = self._call("GET", "/admin/outcomes", params={"since": since})
        rows = [(int(s), int(n), int(ok)) for s, n, ok in answer["outcomes"]]
        return rows, float(answer["now"])
