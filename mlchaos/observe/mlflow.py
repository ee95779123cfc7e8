"""An MLflow model registry's REST API (``/api/2.0/mlflow/...``): which version an alias
names, and moving it. Only these calls are needed, so mlchaos speaks the documented REST
contract with `requests` rather than import the whole `mlflow` package into the runner; the
tests run it against a real MLflow tracking server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests

from mlchaos.errors import ObservationError, TargetError

__all__ = ["API", "MlflowAliases", "MlflowRegistry"]

API = "/api/2.0/mlflow"


class MlflowAliases:
    name = "MLflow registry"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def version_of(self, model: str, alias: str) -> str:
        """The version ``alias`` names; `TargetError` if the model or alias does not exist."""
        answer = self._call(
            "GET", "/registered-models/alias", params={"name": model, "alias": alias}
        )
        return str(answer["model_version"]["version"])

    def has_version(self, model: str, version: str) -> bool:
        try:
            self._call("GET", "/model-versions/get", params={"name": model, "version": version})
        except TargetError:
            return False
        return True

    def point(self, model: str, alias: str, version: str) -> None:
        body = {"name": model, "alias": alias, "version": version}
        self._call("POST", "/registered-models/alias", json=body)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = requests.request(
                method, f"{self.url}{API}{path}", timeout=self.timeout_s, **kwargs
            )
        except requests.RequestException as exc:
            raise ObservationError(f"the {self.name} at {self.url} is unreachable: {exc}") from exc
        if answer.status_code in (400, 404):
            try:
                message = answer.json().get("message", answer.text)
            except ValueError:
                message = answer.text
            raise TargetError(f"the {self.name} refused: {str(message)[:300]}")
        if answer.status_code >= 300:
            raise ObservationError(f"the {self.name} at {self.url} answered {answer.status_code}")
        return dict(answer.json()) if answer.content else {}


class MlflowRegistry:
    """`ModelRegistry` for MLflow: which version the alias names (``production``). MLflow
    keeps no audit log of alias moves and no leases: a bad version's lease is kept by the lease
    keeper (`mlchaos.faults.targets.mlflow`), and its mitigation is read from what is served."""

    def __init__(self, url: str, alias: str = "champion") -> None:
        self.aliases = MlflowAliases(url)
        self.alias = alias

    def model(self, name: str) -> dict[str, Any]:
        return {"name": name, "production": self.aliases.version_of(name, self.alias)}

    def promote(
        self, name: str, version: str, actor: str, reason: str, lease_ttl_s: float | None = None
    ) -> dict[str, Any]:
        raise TargetError("an MLflow alias is moved under a lease by mlchaos.faults.targets.mlflow")

    def rollback(
        self, name: str, actor: str, reason: str, from_version: str | None
    ) -> dict[str, Any]:
        return {"audit": None}  # MLflow has no notion of a previous production version

    def release(self, lease_id: str, actor: str) -> dict[str, Any] | None:
        return None

    def restore(self, name: str, version: str, actor: str, reason: str) -> list[dict[str, Any]]:
        """Point the alias at ``version`` if it names another; the team's deploy step, which
        makes the server follow, is the caller's to run."""
        named = self.aliases.version_of(name, self.alias)
        if named == version:
            return []
        self.aliases.point(name, self.alias, version)
        return [{
            "action": "restore", "at": datetime.now(UTC).isoformat(), "actor": actor,
            "from_version": named, "to_version": version, "reason": reason,
        }]  # fmt: skip

    def request_retrain(self, name: str, actor: str, reason: str) -> dict[str, Any]:
        raise TargetError("an MLflow registry takes no retrain requests: mitigate another way")

    def leases(self) -> list[dict[str, Any]]:
        return []

    def audit(self, name: str) -> list[dict[str, Any]]:
        return []
