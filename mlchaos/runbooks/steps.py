"""Automated runbook steps, keyed by the ``action`` label an alert rule carries.

- ``fallback``: route traffic to the fallback model through the chaos gateway;
- ``retrain``: ask the registry for a retrain (concept drift: the model itself is outdated);
- ``rollback``: run the service's rollback hook (an HTTP call or a command), when it has one.
  On the reference stack the rollback controller handles these through Alertmanager instead.

By hand, the fallback step is:

    curl -X POST $GATEWAY/admin/route -d '{"target": "fallback", "actor": "on-call"}'
"""

from __future__ import annotations

import subprocess
from typing import Any

import requests

from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.pagerduty import Step
from mlchaos.observe.registry import RegistryClient
from mlchaos.schema.service import RollbackHook
from mlchaos.service import Service

RESPONDER = "responder"


def runbook_steps(service: Service) -> dict[str, Step]:
    gateway = GatewayClient(service.gateway_url)

    def fallback(incident: dict[str, Any]) -> None:
        gateway.route("fallback", RESPONDER, f"runbook {_alert(incident)}: route to the fallback")

    steps: dict[str, Step] = {"fallback": fallback}
    if service.registry_url is not None:
        registry = RegistryClient(service.registry_url)

        def retrain(incident: dict[str, Any]) -> None:
            registry.request_retrain(service.model, RESPONDER, f"runbook {_alert(incident)}")

        steps["retrain"] = retrain
    if service.rollback_hook is not None:
        steps["rollback"] = rollback_step(service.rollback_hook)
    return steps


def rollback_step(hook: RollbackHook) -> Step:
    """Run the service's rollback hook; raise when it fails, so it is reported as a defect."""

    def rollback(incident: dict[str, Any]) -> None:
        if hook.http is not None:
            body = {"incident": incident.get("id"), "alert": _alert(incident)}
            answer = requests.request(hook.http.method, hook.http.url, json=body, timeout=30)
            answer.raise_for_status()
        elif hook.command is not None:
            subprocess.run(list(hook.command), check=True, timeout=120, capture_output=True)

    return rollback


def _alert(incident: dict[str, Any]) -> str:
    return str((incident.get("custom_details") or {}).get("alertname", "?"))
