"""The fallback controller: on firing alerts labelled ``action: fallback``, it switches the
alert's ``model`` to its fallback in the registry (the model server then answers with the
fallback, an imputing, clipping older model), once: a repeated notification changes nothing.
It acts as ``fallback-controller``, and it never switches back: on-call does, by the runbook,
once the cause is fixed.
"""

from __future__ import annotations

from typing import Any

import requests
from fastapi import FastAPI

from mlchaos.reference.controller import create_controller

__all__ = ["ACTOR", "create_app"]

ACTOR = "fallback-controller"


def create_app(registry_url: str) -> FastAPI:
    session = requests.Session()

    def fall_back(labels: dict[str, str]) -> dict[str, Any] | None:
        model = labels["model"]
        response = session.post(
            f"{registry_url}/v1/models/{model}/fallback",
            json={
                "enabled": True,
                "actor": ACTOR,
                "reason": f"alert {labels.get('alertname')} firing",
            },
            timeout=5,
        )
        response.raise_for_status()
        return {"model": model, "fallback": True} if response.json().get("audit") else None

    return create_controller(ACTOR, "fallback", fall_back)
