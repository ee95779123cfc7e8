"""The chaos gateway's admin API: fault leases, its audit log, and what it served."""

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

    def audit(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/admin/audit")["audit"])

    def versions(self, since: float) -> list[tuple[int, str, int]]:
        """``(second, version, answers)`` from ``since``: which model version answered."""
        answer = self._call("GET", "/admin/outcomes", params={"since": since})
        return [(int(row[0]), str(row[1]), int(row[2])) for row in answer.get("versions", [])]

    def version_times(self, since: float) -> dict[tuple[int, str], tuple[float, float]]:
        """``(second, version) -> (first, last)``: when, in that second, the version gave its
        first and its last answer (epoch seconds, the gateway's clock)."""
        answer = self._call("GET", "/admin/outcomes", params={"since": since})
        return {
            (int(row[0]), str(row[1])): (float(row[3]), float(row[4]))
            for row in answer.get("versions", [])
            if len(row) > 4
        }

    def first_answer(self, version: str, since: float) -> float | None:
        """When (epoch seconds) ``version`` first answered at or after ``since``, to the
        gateway's clock; None if it has not."""
        answer = self._call("GET", "/admin/outcomes", params={"since": int(since)})
        times = [
            float(row[3])
            for row in answer.get("versions", [])
            if len(row) > 3 and str(row[1]) == version and float(row[3]) >= since
        ]
        return min(times, default=None)

    def codes(self, since: float) -> dict[int, int]:
        """Answers by status code from ``since``: what clients were told."""
        answer = self._call("GET", "/admin/outcomes", params={"since": since})
        totals: dict[int, int] = {}
        for _, code, n in answer.get("codes", []):
            totals[int(code)] = totals.get(int(code), 0) + int(n)
        return totals

    def outcomes(self, since: float) -> tuple[list[tuple[int, int, int]], float]:
        """``(second, answered, ok)`` for each second from ``since`` (epoch seconds) that saw
        an inference request, and the gateway's clock now."""
        answer = self._call("GET", "/admin/outcomes", params={"since": since})
        rows = [(int(s), int(n), int(ok)) for s, n, ok in answer["outcomes"]]
        return rows, float(answer["now"])
