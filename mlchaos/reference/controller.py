"""What the reference stack's automations share: an Alertmanager webhook receiver that acts on
firing alerts with one ``action`` label, under its own name, and can be switched off.

``POST /alerts`` takes Alertmanager's webhook payload; ``GET /health`` says whether it is on
and what it did; ``POST /v1/enabled {"enabled": false}`` switches it off, as a broken
automation would be (game days use it to show what happens without it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["Act", "Enabled", "create_controller"]

Act = Callable[[dict[str, str]], dict[str, Any] | None]
"""Act on one firing alert's labels; what was done, or None when nothing needed doing."""


class Enabled(BaseModel):
    enabled: bool


def create_controller(name: str, action: str, act: Act) -> FastAPI:
    """A webhook receiver called ``name`` that calls ``act`` for each firing alert labelled
    ``action``, unless switched off."""
    log = logging.getLogger(f"mlchaos.{name}")
    app = FastAPI(title=f"mlchaos {name}")
    state: dict[str, Any] = {"enabled": True, "acted": 0}

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
            return {"done": done, "enabled": False}
        for alert in notification.get("alerts", []):
            labels = alert.get("labels", {})
            if alert.get("status") != "firing" or labels.get("action") != action:
                continue
            if not labels.get("model"):
                continue
            outcome = act(labels)
            if outcome is not None:
                state["acted"] += 1
                done.append(outcome)
                log.warning("%s acted on %s: %s", name, labels.get("alertname"), outcome)
        return {"done": done, "enabled": True}

    return app
