"""The rollback controller: on firing alerts labelled ``action: rollback``, it rolls the
alert's ``model`` back in the registry, away from the alert's ``version`` (so a repeated
notification cannot roll back twice). It acts as ``rollback-controller``.
"""

from __future__ import annotations

from typing import Any

import requests
from fastapi import FastAPI

from mlchaos.reference.controller import create_controller

__all__ = ["ACTOR", "create_app"]

ACTOR = "rollback-controller"


def create_app(registry_url: str) -> FastAPI:
    session = requests.Session()

    def roll_back(labels: dict[str, str]) -> dict[str, Any] | None:
        model, version = labels["model"], labels.get("version")
        response = session.post(
            f"{registry_url}/v1/models/{model}/rollback",
            json={
                "actor": ACTOR,
                "reason": f"alert {labels.get('alertname')} firing",
                "from_version": version,
            },
            timeout=5,
        )
        response.raise_for_status()
        return {"model": model, "from": version} if response.json().get("audit") else None

    return create_controller(ACTOR, "rollback", roll_back)
