"""The canary controller: the reference stack's progressive rollout, in the manner of Argo
Rollouts. It rolls out the registry's canary a step at a time and runs an analysis query at
every step; it acts as ``canary-controller``.

- ``POST /rollouts``: roll out the version the registry holds as the model's canary (202; 409
  while a rollout runs, or when there is no canary). Its weight goes 1% -> 5% -> 25% -> 50% ->
  100% of the requests (the registry's ``canary/weight``: the model server splits by it).
- At each step, after ``pause`` seconds, measurements ``interval`` apart of the analysis query
  (``{{version}}`` is the canary's version) until ``count`` of them are conclusive: each
  *successful* when ``successCondition`` holds, *failed* when not, *inconclusive* when the query
  returns nothing. More than ``failureLimit`` failures in a step abort the rollout: the registry
  withdraws the canary and production answers every request. More than ``inconclusiveLimit``
  inconclusive measurements in a step pause it, as Argo pauses: it waits there for a person.
- After the last step it promotes: the canary becomes production (``previous`` the old one).
- ``POST /abort``: abort the rollout under way and answer once it has stopped.
- ``GET /metrics``: the rollout in Argo Rollouts' metric names (``rollout_info``,
  ``rollout_phase``, ``analysis_run_info``), for Prometheus.

The settings (``canary.yaml`` in the state directory) are read when a rollout starts, so a
change applies to the next one. A canary withdrawn under it (a lease's end) stops it, paused
or not: it checks the registry before each measurement, and every second while paused, and
the registry refuses to move a weight of a version that is no longer the canary.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from mlchaos.reference.config import ROLLOUT_NAMESPACE as NAMESPACE

__all__ = ["ACTOR", "create_app", "default_settings", "holds"]

ACTOR = "canary-controller"
log = logging.getLogger("mlchaos.canary-controller")

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def default_settings(model: str) -> str:
    """The stack's canary analysis: the canary's mean score against the training data's
    positive share, conclusive once the canary has given 5 answers in the window."""
    scores = f'mlchaos_model_prediction_score{{model="{model}",version="{{{{version}}}}"}}'
    mean = (f"sum(rate({scores.replace('{', '_sum{', 1)}[10s])) / "
            f"sum(rate({scores.replace('{', '_count{', 1)}[10s]))")  # fmt: skip
    reference = f'scalar(max(mlchaos_model_reference_positive_share{{model="{model}"}}))'
    enough = f"sum(increase({scores.replace('{', '_count{', 1)}[10s])) >= 5"
    return f"""\
# The reference stack's canary analysis, in the manner of an Argo Rollouts AnalysisTemplate;
# the canary controller reads it when a rollout starts. Times are staging's: short.
steps: [1, 5, 25, 50, 100]   # % of requests the canary gets, one step after another
pause: 2                     # seconds at each weight before the analysis measures
analysis:
  # How far the canary's mean score is from the training data's positive share: a good build
  # stays within a few points. Fewer than 5 of its answers in the window return nothing
  # (inconclusive): noise must neither pass nor abort.
  query: >-
    abs({mean} - {reference}) and on() ({enough})
  successCondition: result < 0.15
  interval: 1                # seconds between measurements
  count: 2                   # conclusive measurements per step (inconclusive ones aside)
  failureLimit: 1            # a second failed measurement in a step aborts the rollout
  inconclusiveLimit: 10      # past ten measurements without data in a step, it pauses
"""


def holds(condition: str, result: float) -> bool:
    """``result < 0.2``: Argo's ``successCondition`` for a single value."""
    found = re.fullmatch(r"\s*result\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*", condition)
    if found is None:
        raise ValueError(f"successCondition {condition!r}: write it as 'result < NUMBER'")
    return bool(_COMPARE[found.group(1)](result, float(found.group(2))))


@dataclass
class _Rollout:
    version: str = ""
    phase: str = "Healthy"  # Progressing, Paused, Healthy (promoted or never started), Degraded
    weight: float = 0.0
    analysis: str = ""  # Running, Successful, Failed, Inconclusive
    message: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    runner: threading.Thread | None = None


class _Controller:
    def __init__(self, registry_url: str, prometheus_url: str, model: str, settings: Path):
        self.registry, self.prometheus = registry_url, prometheus_url
        self.model, self.settings = model, settings
        self.state = _Rollout()
        self.lock = threading.RLock()
        self.http = requests.Session()

    # -- the rollout ---------------------------------------------------------------------

    def start(self) -> tuple[int, str]:
        with self.lock:
            if self.state.phase in ("Progressing", "Paused") and not self.state.stop.is_set():
                return 409, f"a rollout of {self.state.version} is under way"
            canary = (self._registry("GET", "") or {}).get("canary")
            if not canary:
                return 409, f"the registry holds no canary of {self.model}"
            config = yaml.safe_load(self.settings.read_text())
            self.state = _Rollout(version=str(canary["version"]), phase="Progressing")
            runner = threading.Thread(target=self._run, args=(self.state, config), daemon=True)
            self.state.runner = runner
            runner.start()
            log.warning("rolling out %s", self.state.version)
            return 202, f"rolling out {self.state.version}"

    def abort(self) -> str:
        """Abort the rollout under way, and return once its thread has stopped."""
        with self.lock:
            state = self.state
            running = state.phase in ("Progressing", "Paused") and not state.stop.is_set()
            if running:
                self._abort(state, "aborted on request")
        if state.runner is not None:
            state.runner.join(timeout=60)
        return "aborted" if running else "no rollout under way"

    def _run(self, state: _Rollout, config: dict[str, Any]) -> None:
        analysis = config["analysis"]
        try:
            for weight in config["steps"]:
                if not self._step(state, float(weight)):
                    return
                if state.stop.wait(config["pause"]):
                    return
                if not self._analyse(state, analysis, float(weight)):
                    return
            with self.lock:
                if state.stop.is_set():
                    return
                reason = f"canary {state.version} passed every step"
                promoted = self._registry("POST", "/canary/promote", json={
                    "version": state.version, "actor": ACTOR, "reason": reason})  # fmt: skip
                state.phase, state.weight = ("Healthy", 0.0) if promoted else ("Degraded", 0.0)
                state.message = f"promoted {state.version}" if promoted else "canary withdrawn"
                state.stop.set()
            log.warning("%s", state.message)
        except Exception as exc:  # a broken step aborts: never leave a half-done rollout
            log.exception("rollout of %s failed", state.version)
            with self.lock, contextlib.suppress(requests.RequestException):
                self._abort(state, f"{type(exc).__name__}: {exc}")

    def _analyse(self, state: _Rollout, analysis: dict[str, Any], weight: float) -> bool:
        """One step's analysis; False when the rollout ended (aborted, paused then aborted)."""
        failed = inconclusive = conclusive = 0
        state.analysis = "Running"
        while conclusive < analysis["count"]:
            if not self._still_canary(state):
                return False
            outcome = self._measure(analysis, state.version)
            failed += outcome == "Failed"
            inconclusive += outcome == "Inconclusive"
            conclusive += outcome != "Inconclusive"
            if failed > analysis["failureLimit"]:
                with self.lock:
                    state.analysis = "Failed"
                    self._abort(state, f"analysis failed {failed} times at {weight:g}%")
                return False
            if inconclusive > analysis["inconclusiveLimit"]:
                state.phase, state.analysis = "Paused", "Inconclusive"
                state.message = f"analysis inconclusive {inconclusive} times at {weight:g}%"
                log.warning("paused: %s", state.message)
                while not state.stop.wait(1.0):  # until someone aborts it, or withdraws it
                    if not self._still_canary(state):
                        break
                return False
            if state.stop.wait(analysis["interval"]):
                return False
        state.analysis = "Successful"
        return True

    def _step(self, state: _Rollout, weight: float) -> bool:
        """Move the canary to ``weight`` unless the rollout was aborted, or the canary
        withdrawn, meanwhile."""
        with self.lock:
            if state.stop.is_set():
                return False
            moved = self._registry("POST", "/canary/weight", json={
                "version": state.version, "weight": weight, "actor": ACTOR})  # fmt: skip
            if not moved:
                self._withdrawn(state)
                return False
            state.weight = weight
            log.warning("canary %s at %g%%", state.version, weight)
            return True

    def _still_canary(self, state: _Rollout) -> bool:
        """Whether the registry still holds this rollout's version as the canary; if not (a
        lease ended, someone withdrew it), the rollout ends here, having moved nothing."""
        canary = (self._registry("GET", "") or {}).get("canary") or {}
        if canary.get("version") == state.version:
            return True
        with self.lock:
            if not state.stop.is_set():
                self._withdrawn(state)
        return False

    def _withdrawn(self, state: _Rollout) -> None:
        state.phase, state.weight = "Degraded", 0.0
        state.message = f"canary {state.version} withdrawn from the registry"
        state.stop.set()
        log.warning("%s", state.message)

    def _abort(self, state: _Rollout, reason: str) -> None:
        state.stop.set()
        self._registry("POST", "/canary/abort", json={
            "actor": ACTOR, "reason": reason, "version": state.version})  # fmt: skip
        state.phase, state.weight, state.message = "Degraded", 0.0, reason
        log.warning("aborted %s: %s", state.version, reason)

    def _measure(self, analysis: dict[str, Any], version: str) -> str:
        """Successful, Failed, or Inconclusive (no data, as Argo says)."""
        query = analysis["query"].replace("{{version}}", version)
        answer = self.http.get(f"{self.prometheus}/api/v1/query", params={"query": query},
                               timeout=5)  # fmt: skip
        answer.raise_for_status()
        found = answer.json()["data"]["result"]
        if not found:
            return "Inconclusive"
        result = float(found[0]["value"][1])
        if result != result:  # NaN: 0/0, no requests in the window
            return "Inconclusive"
        return "Successful" if holds(analysis["successCondition"], result) else "Failed"

    def _registry(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        """The registry's answer; None when it refused (409: the canary is gone)."""
        url = f"{self.registry}/v1/models/{self.model}{path}"
        answer = self.http.request(method, url, timeout=5, **kwargs)
        if answer.status_code == 409:
            return None
        answer.raise_for_status()
        return dict(answer.json())

    # -- what it says ----------------------------------------------------------------------

    def metrics(self) -> str:
        """The rollout in Argo Rollouts' metric names and labels."""
        state = self.state
        labels = f'name="{self.model}",namespace="{NAMESPACE}"'
        phases = ("Progressing", "Paused", "Healthy", "Degraded")
        lines = [
            "# TYPE rollout_info gauge",
            f'rollout_info{{{labels},phase="{state.phase}",strategy="canary"}} 1',
            "# TYPE rollout_phase gauge",
            *(f'rollout_phase{{{labels},phase="{p}",strategy="canary"}} {int(p == state.phase)}'
              for p in phases),
            "# TYPE mlchaos_canary_weight gauge",
            f"mlchaos_canary_weight{{{labels}}} {state.weight:g}",
        ]  # fmt: skip
        if state.analysis:
            lines += [
                "# TYPE analysis_run_info gauge",
                f'analysis_run_info{{name="{self.model}-{state.version}",'
                f'namespace="{NAMESPACE}",phase="{state.analysis}"}} 1',
            ]
        return "\n".join(lines) + "\n"

    def status(self) -> dict[str, Any]:
        state = self.state
        return {"version": state.version, "phase": state.phase, "weight": state.weight,
                "analysis": state.analysis, "message": state.message}  # fmt: skip


def create_app(registry_url: str, prometheus_url: str, model: str, settings: Path) -> FastAPI:
    controller = _Controller(registry_url, prometheus_url, model, settings)
    app = FastAPI(title=f"mlchaos {ACTOR}")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", **controller.status()}

    @app.post("/rollouts")
    def start() -> JSONResponse:
        code, message = controller.start()
        return JSONResponse({"message": message}, status_code=code)

    @app.post("/abort")
    def abort() -> dict[str, str]:
        return {"message": controller.abort()}

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(controller.metrics(), media_type="text/plain; version=0.0.4")

    return app
