"""mlchaos actions a runbook step can name instead of a shell command.

- ``fallback``: run the service's fallback hook (its own switch to its fallback);
- ``retrain``: ask the registry for a retrain (concept drift: the model itself is outdated);
- ``rollback``: run the service's rollback hook (an HTTP call or a command).

Each takes the incident, acts as ``actor``, and raises if it could not: a raised step is a
runbook defect. In a game day the simulated responder acts as `RESPONDER`, so that nothing it
does is ever taken for the team's own mitigation.
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
from mlchaos.vocabulary import RESPONDER

__all__ = ["ACTIONS", "ACTOR", "Step", "action", "rollback_step"]

ACTOR = RESPONDER
ACTIONS: dict[str, str] = {
    "fallback": "run the service's fallback hook (its own switch to its fallback)",
    "retrain": "record a retrain request in the model registry",
    "rollback": "run the service's rollback hook",
}

Step = Callable[[dict[str, Any]], None]


def action(name: Action, service: Service) -> Step:
    """The callable for action ``name`` on ``service``; raises `InputError` if it cannot exist."""
    if name == "fallback":
        if service.fallback_hook is None:
            raise InputError("action fallback: the service file names no fallback hook")
        return _hook_step(service.fallback_hook, "the fallback hook")
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
    return _hook_step(hook, "the rollback hook")


def _hook_step(hook: Hook, what: str) -> Step:
    def step(incident: dict[str, Any]) -> None:
        body = {"incident": incident.get("id"), "alert": _alert(incident), "actor": ACTOR}
        run_hook(hook, what, body=body, timeout_s=30 if hook.http else 120)

    return step


def _ignore(_: object) -> None:
    return None


def _alert(incident: dict[str, Any]) -> str:
    return str((incident.get("custom_details") or {}).get("alertname", "?"))
