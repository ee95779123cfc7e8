"""The rollback controller: an Alertmanager webhook receiver that rolls the registry back.

It acts on firing alerts labelled ``action: rollback`` and rolls the alert's ``model`` back
away from the alert's ``version``, so a repeated notification cannot roll back twice.
``POST /v1/enabled {"enabled": false}`` switches it off, as a broken automation would be.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["Enabled", "create_app"]

log = logging.getLogger("mlchaos.rollback_controller")


class Enabled(BaseModel):
    enabled: bool


def create_app(registry_url: str) -> FastAPI:
    app = FastAPI(title="mlchaos rollback controller")
    state = {"enabled": True, "rollbacks": 0}
    session = requests.Session()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", **state}

    @app.post("/v1/enabled")
    def set_enabled(body: Enabled) -> dict[str, Any]:
        state["enabled"] = body.enabled
        return state

    @app.post("/alerts")
    def alerts(notification: dict[str, Any]) -> dict[str, Any]:
        done: list[dict[str, Any]] = []
        if not state["enabled"]:
            return {"rolled_back": done, "enabled": False}
        for alert in notification.get("alerts", []):
            labels = alert.get("labels", {})
            if alert.get("status") != "firing" or labels.get("action") != "rollback":
                continue
            model, version = labels.get("model"), labels.get("version")
            if not model:
                continue
            response = session.post(
                f"{registry_url}/v1/models/{model}/rollback",
                json={
                    "actor": "rollback-controller",
                    "reason": f"alert {labels.get('alertname')} firing",
                    "from_version": version,
                },
                timeout=5,
            )
            response.raise_for_status()
            if response.json().get("audit"):
                state["rollbacks"] += 1
                done.append({"model": model, "from": version})
                log.warning("rolled %s back from %s", model, version)
        return {"rolled_back": done, "enabled": True}

    return app
