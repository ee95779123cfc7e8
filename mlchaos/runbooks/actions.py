"""mlchaos actions a runbook step can name instead of a shell command.

- ``fallback``: route traffic to the fallback model through the chaos gateway;
- ``retrain``: ask the registry for a retrain (concept drift: the model itself is outdated);
- ``rollback``: run the service's rollback hook (an HTTP call or a command).

Each takes the incident, acts, and raises if it could not: a raised step is a runbook defect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlchaos.errors import InputError
from mlchaos.hooks import run_hook
from mlchaos.observe import adapters
from mlchaos.schema.runbook import Action
from mlchaos.schema.service import Hook
from mlchaos.service import Service

__all__ = ["ACTIONS", "ACTOR", "Step", "action", "rollback_step"]

ACTOR = "on-call"
ACTIONS: dict[str, str] = {
    "fallback": "route traffic to the fallback model through the chaos gateway",
    "retrain": "record a retrain request in the model registry",
    "rollback": "run the service's rollback hook",
}

Step = Callable[[dict[str, Any]], None]


def action(name: Action, service: Service) -> Step:
    """The callable for action ``name`` on ``service``; raises `InputError` if it cannot exist."""
    if name == "fallback":
        gateway = adapters.traffic(service)
        return lambda incident: _ignore(
            gateway.route("fallback", ACTOR, f"runbook {_alert(incident)}")
        )
    if name == "retrain":
        if service.registry_url is None:
            raise InputError("action retrain: the service names no registry")
        registry = adapters.registry(service)
        return lambda incident: _ignore(
            registry.request_retrain(service.model, ACTOR, f"runbook {_alert(incident)}")
        )
    if service.rollback_hook is None:
        raise InputError("action rollback: the service file names no rollback hook")
    return rollback_step(service.rollback_hook)


def rollback_step(hook: Hook) -> Step:
    """Run the service's rollback hook; raise when it fails, so it is reported as a defect."""

    def rollback(incident: dict[str, Any]) -> None:
        body = {"incident": incident.get("id"), "alert": _alert(incident)}
        run_hook(hook, "the rollback hook", body=body, timeout_s=30 if hook.http else 120)

    return rollback


def _ignore(_: object) -> None:
    return None


def _alert(incident: dict[str, Any]) -> str:
    return str((incident.get("custom_details") or {}).get("alertname", "?"))
