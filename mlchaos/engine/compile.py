"""Compile an mlchaos experiment into a Chaos Toolkit experiment.

- the steady-state hypothesis holds the SLO probes and a traffic probe;
- the method injects the fault, confirms it is live, then waits for each expected event, each
  no longer than its own target (`Experiment.waits_s`): a fault is not kept in to wait out a
  verdict that is already known;
- the rollbacks revert the fault, and run always (the runner sets the strategy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchaos.access import Access
from mlchaos.schema import Experiment, Slo
from mlchaos.service import Service
from mlchaos.vocabulary import CheckRole

__all__ = ["Sources", "compile_experiment"]

PROBES, ACTIONS = "mlchaos.ctk.probes", "mlchaos.ctk.actions"


@dataclass(frozen=True)
class Sources:
    """The files a compiled experiment came from."""

    experiment: Path
    service: Path | None = None
    """None for the reference stack's service."""


def compile_experiment(
    experiment: Experiment, service: Service, journal: Path, sources: Sources | None = None
) -> dict[str, Any]:
    """The Chaos Toolkit experiment document for ``experiment`` against ``service``.

    With ``sources`` (the experiment file and the service file it was compiled from), a raw
    `chaos run` checks again, before anything runs, that the experiment still fits the
    service as the files now say, and reports a misfit at its line (`mlchaos.ctk.control`)."""
    configuration: dict[str, Any] = {"mlchaos_journal": str(journal)}
    if sources is not None:
        configuration["mlchaos_source"] = str(sources.experiment)
        if sources.service is not None:
            configuration["mlchaos_service_file"] = str(sources.service)
    return {
        "version": "1.0.0",
        "title": experiment.title or experiment.name,
        "description": experiment.description or f"mlchaos experiment {experiment.name}",
        "tags": ["mlchaos", experiment.fault.type],
        "configuration": configuration,
        "controls": [
            {
                "name": "mlchaos-journal",
                "provider": {"type": "python", "module": "mlchaos.ctk.control"},
            }
        ],
        "steady-state-hypothesis": {
            "title": "the service meets its SLOs under traffic",
            "probes": [_slo_probe(s, service, CheckRole.SLO) for s in experiment.steady_state]
            + [
                _slo_probe(
                    service.traffic_slo(experiment.min_traffic_rps), service, CheckRole.TRAFFIC
                ),
                _serving_probe(experiment, service),
            ],
        },
        "method": _method(experiment, service),
        "rollbacks": [_activity("action", "revert-fault", ACTIONS, "revert_faults", {})],
    }


def _method(experiment: Experiment, service: Service) -> list[dict[str, Any]]:
    expect = experiment.expect
    waits = experiment.waits_s()
    target = {"service": service.model_dump(mode="json")}
    alert_name = expect.detection.alert if expect.detection else ""
    alert = _with_adapters(service, {"prometheus_url": service.prometheus_url, "alert": alert_name})
    fault = experiment.fault.model_dump(mode="json")
    rest = service.pagerduty_rest
    pd = _with_adapters(
        service,
        {
            "pagerduty_url": service.pagerduty_url,
            "ca_file": _str(service.pagerduty_ca_file),
            **({"pagerduty_rest": rest.model_dump(exclude_none=True)} if rest else {}),
        },
    )
    # Pages and automated mitigations pass through these; if one is down, nothing is missed.
    pipeline = {"pipeline": {
        "Prometheus": _endpoint(service.prometheus_url, service.prometheus_access),
        "Alertmanager": _endpoint(service.alertmanager_url, service.alertmanager_access),
    }}  # fmt: skip
    steps = [
        _activity(
            "action",
            f"inject-{experiment.fault.type}",
            ACTIONS,
            "inject_fault",
            {"fault": fault, **target},
        ),
        _activity(
            "probe", "confirm-fault-active", PROBES, "fault_active", {"fault": fault, **target}
        ),
    ]
    if expect.abort or expect.promotion:  # a canary: watch the team's rollout, never drive it
        outcome = "aborted" if expect.abort else "promoted"
        settle = expect.abort or expect.promotion
        assert settle is not None
        steps.append(_activity(
            "probe", f"wait-{outcome}", PROBES, "wait_for_rollout",
            {"expected": outcome, "stays_for_s": settle.stays_for, **target,
             **_until(waits, outcome)},
        ))  # fmt: skip
    if expect.privacy:  # a pii_canary: search where data lands, no later than its target
        steps.append(_activity(
            "probe", "search-for-canaries", PROBES, "search_for_canaries",
            {"search_for_s": expect.privacy.search_for, **target},
        ))  # fmt: skip
    if expect.approval:  # poisoned_data: run the team's retrain, watch its gate decide
        steps.append(_activity(
            "probe", "await-approval", PROBES, "await_approval",
            {"rejected_within_s": expect.approval.rejected_within,
             "never_served_for_s": expect.approval.never_served_for, **target},
        ))  # fmt: skip
    if expect.detection:
        steps += [
            _activity(
                "probe",
                "wait-detected",
                PROBES,
                "wait_for_alert",
                {**alert, **_until(waits, "detected")},
            ),
            _activity(
                "probe", "wait-fired", PROBES, "wait_for_firing",
                {**alert, **_until(waits, "fired")},
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
                    "alert": alert_name,
                    **pipeline,
                    **_until(waits, "paged"),
                },
            )
        )
    if expect.escalation and expect.paging:
        steps.append(
            _activity(
                "probe",
                "wait-escalated",
                PROBES,
                "wait_for_escalation",
                {
                    **pd,
                    "service": expect.paging.service,
                    "within_s": None
                    if experiment.give_up_after is not None
                    else expect.escalation.within,
                    **_until(waits, "escalated"),
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
                    # until its target after the page, unless the experiment says how long
                    "within_s": None
                    if experiment.give_up_after is not None
                    else expect.acknowledgement.within,
                    **_until(waits, "acknowledged"),
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
                    "by": expect.mitigation.by,
                    "served_below": expect.mitigation.served_below,
                    "stays_for_s": expect.mitigation.stays_for,
                    "min_success": experiment.min_success,
                    **target,
                    **pipeline,
                    **_until(waits, "mitigated"),
                },
            )
        )
    if expect.recovery:
        steps.append(
            _activity(
                "probe",
                "wait-recovered",
                PROBES,
                "wait_for_recovery",
                _with_adapters(
                    service,
                    {
                        "prometheus_url": service.prometheus_url,
                        "slos": [s.model_dump(exclude_none=True) for s in experiment.steady_state],
                        "stable_for_s": expect.recovery.stable_for,
                        "gateway_url": service.gateway_url,
                        "min_success": experiment.min_success,
                        **pipeline,
                        **_until(waits, "recovered"),
                    },
                ),
            )
        )
    return steps


def _until(waits: dict[str, float], event: str) -> dict[str, float]:
    """How long after injection the wait for ``event`` goes on: no longer than its target."""
    return {"give_up_after_s": waits[event]}


def _slo_probe(slo: Slo, service: Service, role: str) -> dict[str, Any]:
    arguments = _with_adapters(
        service,
        {
            "prometheus_url": service.prometheus_url,
            "role": role,
            **slo.model_dump(exclude_none=True),
        },
    )
    probe = _activity("probe", f"{role}-{slo.name}", PROBES, "slo_holds", arguments)
    probe["tolerance"] = True
    return probe


def _serving_probe(experiment: Experiment, service: Service) -> dict[str, Any]:
    """The gateway's own count of 2xx answers: a service that rejects everything is not in
    steady state, whatever its metrics call an error."""
    arguments = _with_adapters(
        service, {"gateway_url": service.gateway_url, "min_success": experiment.min_success}
    )
    probe = _activity("probe", CheckRole.SERVING, PROBES, "serving_holds", arguments)
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


def _with_adapters(service: Service, arguments: dict[str, Any]) -> dict[str, Any]:
    """A probe's arguments with the service file's choice of adapters and, for Prometheus,
    how to reach it (variable names and paths: secrets are read when the probe runs)."""
    access = {}
    if "prometheus_url" in arguments and not service.prometheus_access.empty:
        access["prometheus_access"] = service.prometheus_access.model_dump(exclude_none=True)
    return {**arguments, **access, "adapters": service.adapters.model_dump()}


def _endpoint(url: str, access: Access) -> str | dict[str, Any]:
    return url if access.empty else {"url": url, "access": access.model_dump(exclude_none=True)}


def _str(path: Path | None) -> str | None:
    return str(path) if path else None
