"""Compile an mlchaos experiment into a Chaos Toolkit experiment.

- the steady-state hypothesis holds the SLO probes and a traffic probe;
- the method injects the fault, confirms it is live, then waits for each expected event;
- the rollbacks revert the fault, and run always (the runner sets the strategy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlchaos.schema import Experiment, Slo
from mlchaos.service import Service

PROBES, ACTIONS = "mlchaos.ctk.probes", "mlchaos.ctk.actions"


def compile_experiment(experiment: Experiment, service: Service, journal: Path) -> dict[str, Any]:
    """The Chaos Toolkit experiment document for ``experiment`` against ``service``."""
    return {
        "version": "1.0.0",
        "title": experiment.title or experiment.name,
        "description": experiment.description or f"mlchaos experiment {experiment.name}",
        "tags": ["mlchaos", experiment.fault.type],
        "configuration": {"mlchaos_journal": str(journal)},
        "controls": [
            {
                "name": "mlchaos-journal",
                "provider": {"type": "python", "module": "mlchaos.ctk.control"},
            }
        ],
        "steady-state-hypothesis": {
            "title": "the service meets its SLOs under traffic",
            "probes": [_slo_probe(s, service, "slo") for s in experiment.steady_state]
            + [_slo_probe(traffic_slo(experiment, service), service, "traffic")],
        },
        "method": _method(experiment, service),
        "rollbacks": [_activity("action", "revert-fault", ACTIONS, "revert_faults", {})],
    }


def traffic_slo(experiment: Experiment, service: Service) -> Slo:
    """Traffic must flow, or nothing the SLOs say means anything."""
    query = f'sum(rate(mlchaos_model_requests_total{{model="{service.model}"}}[5s]))'
    return Slo(name="traffic", query=query, above=experiment.min_traffic_rps)


def _method(experiment: Experiment, service: Service) -> list[dict[str, Any]]:
    fault, expect = experiment.fault, experiment.expect
    wait = {"give_up_after_s": experiment.deadline_s}
    pd = {"pagerduty_url": service.pagerduty_url, "ca_file": _str(service.pagerduty_ca_file)}
    steps = [
        _activity(
            "action",
            "inject-bad-version",
            ACTIONS,
            "inject_bad_version",
            {
                "registry_url": service.registry_url,
                "model": fault.model,
                "variant": fault.variant,
                "ttl_s": fault.ttl,
            },
        ),
        _activity(
            "probe",
            "confirm-fault-active",
            PROBES,
            "bad_version_serving",
            {
                "model_url": service.model_url,
                "model": fault.model,
                "variant": fault.variant,
            },
        ),
        _activity(
            "probe",
            "wait-detected",
            PROBES,
            "wait_for_alert",
            {
                "prometheus_url": service.prometheus_url,
                "alert": expect.detection.alert,
                **wait,
            },
        ),
    ]
    if expect.paging:
        steps.append(
            _activity(
                "probe",
                "wait-paged",
                PROBES,
                "wait_for_page",
                {
                    **pd,
                    "service": expect.paging.service,
                    **wait,
                },
            )
        )
    if expect.acknowledgement and expect.paging:
        steps.append(
            _activity(
                "probe",
                "wait-acknowledged",
                PROBES,
                "wait_for_acknowledgement",
                {
                    **pd,
                    "service": expect.paging.service,
                    **wait,
                },
            )
        )
    if expect.mitigation:
        steps.append(
            _activity(
                "probe",
                "wait-mitigated",
                PROBES,
                "wait_for_mitigation",
                {
                    "registry_url": service.registry_url,
                    "model": fault.model,
                    "variant": fault.variant,
                    **wait,
                },
            )
        )
    steps.append(
        _activity(
            "probe",
            "wait-recovered",
            PROBES,
            "wait_for_recovery",
            {
                "prometheus_url": service.prometheus_url,
                "slos": [s.model_dump(exclude_none=True) for s in experiment.steady_state],
                "stable_for_s": expect.recovery.stable_for,
                **wait,
            },
        )
    )
    return steps


def _slo_probe(slo: Slo, service: Service, role: str) -> dict[str, Any]:
    arguments = {
        "prometheus_url": service.prometheus_url,
        "role": role,
        **slo.model_dump(exclude_none=True),
    }
    probe = _activity("probe", f"{role}-{slo.name}", PROBES, "slo_holds", arguments)
    probe["tolerance"] = True
    return probe


def _activity(
    kind: str, name: str, module: str, func: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }


def _str(path: Path | None) -> str | None:
    return str(path) if path else None
