"""The model registry's HTTP API: promotions with leases, rollbacks, and the audit log."""

from __future__ import annotations

from typing import Any

from mlchaos.errors import TargetError
from mlchaos.observe.api import JsonApi

__all__ = ["RegistryClient"]


class RegistryClient(JsonApi):
    name = "registry"

    def model(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/models/{name}")

    def promote(
        self, name: str, version: str, actor: str, reason: str, lease_ttl_s: float | None = None
    ) -> dict[str, Any]:
        body = {"version": version, "actor": actor, "reason": reason, "lease_ttl_s": lease_ttl_s}
        return self._call("POST", f"/v1/models/{name}/promote", json=body)

    def canary(
        self, name: str, version: str, actor: str, reason: str, lease_ttl_s: float | None = None
    ) -> dict[str, Any]:
        """Roll ``version`` out beside production, at weight 0: the team's rollout moves it."""
        body = {"version": version, "actor": actor, "reason": reason, "lease_ttl_s": lease_ttl_s}
        return self._call("POST", f"/v1/models/{name}/canary", json=body)

    def abort_canary(self, name: str, actor: str, reason: str, version: str) -> dict[str, Any]:
        body = {"actor": actor, "reason": reason, "version": version}
        return self._call("POST", f"/v1/models/{name}/canary/abort", json=body)

    def rollback(
        self, name: str, actor: str, reason: str, from_version: str | None
    ) -> dict[str, Any]:
        body = {"actor": actor, "reason": reason, "from_version": from_version}
        return self._call("POST", f"/v1/models/{name}/rollback", json=body)

    def release(self, lease_id: str, actor: str) -> dict[str, Any] | None:
        """End a lease; None if the registry no longer holds it (released or expired)."""
        try:
            return self._call("DELETE", f"/v1/leases/{lease_id}", params={"actor": actor})
        except TargetError:
            return None

    def restore(self, name: str, version: str, actor: str, reason: str) -> list[dict[str, Any]]:
        """``version`` in production and the fallback off; the audit entries of what changed."""
        body = {"version": version, "actor": actor, "reason": reason}
        return list(self._call("POST", f"/v1/models/{name}/restore", json=body)["audit"])

    def request_retrain(self, name: str, actor: str, reason: str) -> dict[str, Any]:
        body = {"actor": actor, "reason": reason}
        return dict(self._call("POST", f"/v1/models/{name}/retrain", json=body)["audit"])

    def leases(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/leases")["leases"])

    def audit(self, name: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/models/{name}/audit")["audit"])
