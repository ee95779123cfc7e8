"""What a Kubernetes progressive-delivery controller says of its rollout, read from Prometheus
in the metric names it exports: Argo Rollouts (``rollout_info``, ``analysis_run_info``) and
Flagger (``flagger_canary_status``, ``flagger_canary_weight``).

mlchaos judges a canary from what is served (`mlchaos.observe.rollout`), never from these: a
controller can say *Healthy* while its traffic router sends nothing anywhere. What they say is
reported beside the verdict, so that a disagreement shows.

The metric names, labels and values follow the controllers' source (Argo Rollouts'
``controller/metrics/prommetrics.go``: ``rollout_info{namespace,name,strategy,traffic_router,
phase} 1`` and ``analysis_run_info{namespace,name,phase} 1``; Flagger's
``pkg/metrics/recorder.go``: ``flagger_canary_status{name,namespace}`` 0 running, 1 successful,
2 failed, and ``flagger_canary_weight{workload,namespace}``, the canary's under its own name and
the primary's under ``NAME-primary``). No cluster runs in mlchaos's tests: they read text
written to those definitions through a real Prometheus (``tests/fixtures/exposition``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlchaos.observe.adapters import Metrics

__all__ = ["ARGO_ANALYSIS", "ARGO_PHASES", "FLAGGER_STATUS", "ArgoRollouts", "Flagger", "Said"]

ARGO_PHASES = {"Progressing": "progressing", "Paused": "paused", "Degraded": "aborted",
               "Healthy": "healthy"}  # fmt: skip
"""Argo's rollout phases, in mlchaos's words (an aborted rollout is Degraded; a promoted one,
or one never started, Healthy)."""
ARGO_ANALYSIS = ("Running", "Successful", "Failed", "Inconclusive", "Error", "Pending")
FLAGGER_STATUS = {0: "progressing", 1: "promoted", 2: "aborted"}


@dataclass(frozen=True)
class Said:
    """A controller's own account of its rollout: reported, never judged."""

    controller: str
    phase: str | None
    """``progressing``, ``paused``, ``aborted``, ``healthy`` / ``promoted``; None: not exported."""
    analysis: str | None = None
    canary_weight: float | None = None


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class ArgoRollouts:
    name = "argo-rollouts"

    def __init__(self, metrics: Metrics, namespace: str, rollout: str) -> None:
        self.metrics, self.namespace, self.rollout = metrics, _label(namespace), _label(rollout)

    def said(self) -> Said:
        where = f'namespace="{self.namespace}",name="{self.rollout}"'
        phase = next(
            (ours for theirs, ours in ARGO_PHASES.items()
             if self.metrics.values(f'max(rollout_info{{{where},phase="{theirs}"}}) == 1')),
            None,
        )  # fmt: skip
        runs = f'namespace="{self.namespace}",name=~"{self.rollout}-.+"'
        analysis = next(
            (p for p in ARGO_ANALYSIS
             if self.metrics.values(f'max(analysis_run_info{{{runs},phase="{p}"}}) == 1')),
            None,
        )  # fmt: skip
        return Said(self.name, phase, analysis)


class Flagger:
    name = "flagger"

    def __init__(self, metrics: Metrics, namespace: str, canary: str) -> None:
        self.metrics, self.namespace, self.canary = metrics, _label(namespace), _label(canary)

    def said(self) -> Said:
        status = self.metrics.values(
            f'max(flagger_canary_status{{namespace="{self.namespace}",name="{self.canary}"}})'
        )
        weight = self.metrics.values(
            f'max(flagger_canary_weight{{namespace="{self.namespace}",workload="{self.canary}"}})'
        )
        phase = FLAGGER_STATUS.get(int(status[0])) if status else None
        return Said(self.name, phase, None, weight[0] if weight else None)
