"""An MLflow model registry's REST API (``/api/2.0/mlflow/...``): which version an alias
names, and moving it. Only these calls are needed, so mlchaos speaks the documented REST
contract with `requests` rather than import the whole `mlflow` package into the runner; the
tests run it against a real MLflow tracking server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests

from mlchaos.errors import ObservationError, TargetError

__all__ = ["API", "LEASE_TAG", "MlflowAliases", "MlflowRegistry"]

API = "/api/2.0/mlflow"
LEASE_TAG = "mlchaos.lease"
"""The registered-model tag an mlchaos fault writes before it moves an alias, and deletes once
it is undone: the lease lives in MLflow itself, so `mlchaos recover --service` and `mlchaos
doctor` find a moved alias with no run folder and no keeper left."""


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

    def aliases(self, model: str) -> dict[str, str]:
        """Every alias of the model, and the version it names."""
        answer = self._call("GET", "/registered-models/get", params={"name": model})
        found = answer.get("registered_model", {}).get("aliases", [])
        return {str(a["alias"]): str(a["version"]) for a in found}

    def named(self, model: str, alias: str) -> str | None:
        """The version ``alias`` names; None when the model has no such alias."""
        return self.aliases(model).get(alias)

    def delete_alias(self, model: str, alias: str) -> None:
        """Delete an alias; one that is already gone is no error."""
        if self.named(model, alias) is not None:
            self._call("DELETE", "/registered-models/alias", json={"name": model, "alias": alias})

    def put_back(self, model: str, alias: str, version: str | None) -> None:
        """Make ``alias`` name ``version`` again, or not exist when ``version`` is None."""
        if version is None:
            self.delete_alias(model, alias)
        elif self.named(model, alias) != version:
            self.point(model, alias, version)

    def has_version(self, model: str, version: str) -> bool:
        try:
            self._call("GET", "/model-versions/get", params={"name": model, "version": version})
        except TargetError:
            return False
        return True

    def download_uri(self, model: str, version: str) -> str:
        """Where the version's artifacts are (``file:///…``, ``s3://…``, ``mlflow-artifacts:…``)."""
        answer = self._call("GET", "/model-versions/get-download-uri",
                            params={"name": model, "version": version})  # fmt: skip
        return str(answer["artifact_uri"])

    def model_version(self, model: str, version: str) -> dict[str, Any]:
        asked = {"name": model, "version": version}
        return dict(self._call("GET", "/model-versions/get", params=asked)["model_version"])

    def experiment_of(self, run_id: str) -> str:
        answer = self._call("GET", "/runs/get", params={"run_id": run_id})
        return str(answer["run"]["info"]["experiment_id"])

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str]) -> dict[str, Any]:
        """A new run; its ``info`` (``run_id``, ``artifact_uri``)."""
        body = {"experiment_id": experiment_id, "run_name": name,
                "tags": [{"key": k, "value": v} for k, v in tags.items()]}  # fmt: skip
        return dict(self._call("POST", "/runs/create", json=body)["run"]["info"])

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "/runs/delete", json={"run_id": run_id})

    def create_version(
        self, model: str, source: str, description: str, tags: dict[str, str], run_id: str = ""
    ) -> str:
        """Register ``source`` (an artifact folder; of run ``run_id``, when given: MLflow takes a
        local source only inside a run's artifacts) as a new version of ``model``; its number."""
        body = {"name": model, "source": source, "description": description,
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
                **({"run_id": run_id} if run_id else {})}  # fmt: skip
        created = self._call("POST", "/model-versions/create", json=body)
        return str(created["model_version"]["version"])

    def version_tags(self, model: str, version: str) -> dict[str, str]:
        asked = {"name": model, "version": version}
        answer = self._call("GET", "/model-versions/get", params=asked)
        tags = answer.get("model_version", {}).get("tags", [])
        return {str(t["key"]): str(t.get("value", "")) for t in tags}

    def versions_since(self, model: str, since_ms: int) -> list[dict[str, Any]]:
        """Every version of ``model`` created at or after ``since_ms`` (epoch milliseconds),
        with its tags, oldest first (the newest 1,000 versions are searched)."""
        asked = {"filter": f"name='{model}'", "max_results": 1000,
                 "order_by": "version_number DESC"}  # fmt: skip
        answer = self._call("GET", "/model-versions/search", params=asked)
        found = [dict(v) for v in answer.get("model_versions", [])
                 if int(v.get("creation_timestamp", 0)) >= since_ms]  # fmt: skip
        return sorted(found, key=lambda v: int(v["version"]))

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        body = {"name": model, "version": version, "key": key, "value": value}
        self._call("POST", "/model-versions/set-tag", json=body)

    def delete_version(self, model: str, version: str) -> bool:
        """Delete a version; False when it is already gone."""
        if not self.has_version(model, version):
            return False
        self._call("DELETE", "/model-versions/delete", json={"name": model, "version": version})
        return True

    def point(self, model: str, alias: str, version: str) -> None:
        body = {"name": model, "alias": alias, "version": version}
        self._call("POST", "/registered-models/alias", json=body)

    def tags(self, model: str) -> dict[str, str]:
        """The registered model's tags."""
        answer = self._call("GET", "/registered-models/get", params={"name": model})
        tags = answer.get("registered_model", {}).get("tags", [])
        return {str(t["key"]): str(t.get("value", "")) for t in tags}

    def set_tag(self, model: str, key: str, value: str) -> None:
        body = {"name": model, "key": key, "value": value}
        self._call("POST", "/registered-models/set-tag", json=body)

    def delete_tag(self, model: str, key: str) -> None:
        """Delete a tag; one that is already gone is no error."""
        try:
            self._call("DELETE", "/registered-models/delete-tag", json={"name": model, "key": key})
        except TargetError:
            if key in self.tags(model):
                raise

    def lease(self, model: str) -> dict[str, Any] | None:
        """The mlchaos lease the model carries (`LEASE_TAG`), if any: which alias it moved,
        to what, from what, until when, and who keeps it."""
        value = self.tags(model).get(LEASE_TAG)
        if not value:
            return None
        try:
            found = json.loads(value)
        except ValueError:
            return {"id": "?", "unreadable": value[:200]}
        return dict(found) if isinstance(found, dict) else {"id": "?", "unreadable": value[:200]}

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
        return []  # by model: see `MlflowAliases.lease`

    def audit(self, name: str) -> list[dict[str, Any]]:
        return []
