"""The fraud team's canary controller, in the manner of Argo Rollouts: it rolls out whatever
MLflow's ``candidate`` alias names, a step at a time, through the HAProxy router in front of the
two MLServers (stable and candidate), and runs an analysis query at every step.

- ``POST /rollouts``: start a rollout of the version ``candidate`` names (202; 409 while one
  runs). The candidate MLServer loads it (deploy.py), then the router's weights go
  1% -> 5% -> 25% -> 50% -> 100% (HAProxy's runtime API, ``set weight``).
- At each step, after ``pause``, measurements ``interval`` apart of the analysis query
  (``{{version}}`` is the candidate's version) until ``count`` of them are conclusive: each
  *successful* when the ``successCondition`` holds, *failed* when not, *inconclusive* when the
  query returns nothing. More than ``failureLimit`` failures in a step abort the rollout: every
  request goes back to stable. More than ``inconclusiveLimit`` inconclusive measurements in a
  step pause it, as Argo pauses an inconclusive analysis: it waits there for a person.
- After the last step it promotes: ``champion`` names the candidate (``previous`` the old
  champion), the stable MLServer deploys it, the router sends it every request again, and
  ``candidate`` is deleted.
- ``POST /abort``: abort the rollout under way (what an operator, or mlchaos's revert, does),
  and answer once it has stopped: nothing it started is still moving when the caller goes on.
- ``GET /status``: the rollout's phase and weight; ``GET /metrics``: the same in Argo Rollouts'
  metric names (``rollout_info``, ``rollout_phase``, ``analysis_run_info``) for Prometheus.

The analysis is read from ``canary.yaml`` when a rollout starts, so a change to it applies to
the next rollout. Every action goes to the log.

Usage: ``python canary.py PORT TRACKING_URI STABLE_URL STABLE_MODELS_DIR CANDIDATE_URL
CANDIDATE_MODELS_DIR ROUTER_SOCKET CONFIG LOG``; the monitoring password is read from
``$FRAUD_MONITORING_PASSWORD``.
"""

from __future__ import annotations

import json
import operator
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml
from mlflow import MlflowClient

from deploy import MODEL, deploy

PORT, TRACKING, STABLE, STABLE_MODELS, CANDIDATE, CANDIDATE_MODELS, SOCKET, CONFIG, LOG = (
    sys.argv[1:10]
)
ALIAS = "candidate"
BACKEND = "fraud"


def log(**entry: object) -> None:
    with Path(LOG).open("a") as out:
        out.write(json.dumps({"at": time.time(), **entry}) + "\n")


def set_weights(candidate: int) -> None:
    """HAProxy's runtime API: the candidate gets ``candidate`` of every 100 requests."""
    for server, weight in (("stable", 100 - candidate), ("candidate", candidate)):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
            admin.settimeout(5)
            admin.connect(SOCKET)
            admin.sendall(f"set weight {BACKEND}/{server} {weight}\n".encode())
            answer = admin.recv(4096).decode().strip()
        if answer:
            raise RuntimeError(f"HAProxy refused set weight {server} {weight}: {answer}")


@dataclass
class Rollout:
    version: str = ""
    phase: str = "Healthy"  # Progressing, Paused, Healthy (promoted or never started), Degraded
    weight: int = 0
    analysis: str = ""  # Running, Successful, Failed, Inconclusive
    message: str = ""
    aborted: threading.Event = field(default_factory=threading.Event)


STATE = Rollout()
LOCK = threading.RLock()
RUNNING: list[threading.Thread] = []
"""The rollout's thread: an abort on request returns once it has stopped (a deploy under way
finishes first), so whoever aborts can put the aliases back without racing it."""


def measure(settings: dict[str, Any], version: str) -> str:
    """One measurement: Successful, Failed or Inconclusive (no data, as Argo says)."""
    query = settings["query"].replace("{{version}}", version)
    answer = requests.get(
        f"{settings['prometheus']}/api/v1/query", params={"query": query}, timeout=5,
        auth=(settings["user"], os.environ["FRAUD_MONITORING_PASSWORD"]),
        verify=settings["ca_file"],
    )  # fmt: skip
    answer.raise_for_status()
    found = answer.json()["data"]["result"]
    if not found:
        return "Inconclusive"
    result = float(found[0]["value"][1])
    if result != result:  # NaN: 0/0, no requests in the window
        return "Inconclusive"
    return "Successful" if holds(settings["successCondition"], result) else "Failed"


COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def holds(condition: str, result: float) -> bool:
    """``result < 0.2``, Argo's successCondition for a single value."""
    found = re.fullmatch(r"\s*result\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*", condition)
    if found is None:
        raise ValueError(f"successCondition {condition!r}: write it as 'result < NUMBER'")
    return bool(COMPARE[found.group(1)](result, float(found.group(2))))


def step_to(weight: int) -> bool:
    """Move the router to ``weight`` unless the rollout was aborted meanwhile."""
    with LOCK:
        if STATE.aborted.is_set():
            return False
        set_weights(weight)
        STATE.weight = weight
        return True


def run(version: str) -> None:
    config = yaml.safe_load(Path(CONFIG).read_text())
    analysis = config["analysis"]
    client = MlflowClient(TRACKING)
    try:
        deploy(TRACKING, CANDIDATE, Path(CANDIDATE_MODELS), alias=ALIAS)
        for weight in config["steps"]:
            if not step_to(weight):
                return
            STATE.analysis = "Running"
            log(action="step", version=version, weight=weight)
            if STATE.aborted.wait(config["pause"]):
                return
            failed = inconclusive = conclusive = 0
            while conclusive < analysis["count"]:
                outcome = measure(analysis, version)
                log(action="measure", version=version, weight=weight, outcome=outcome)
                failed += outcome == "Failed"
                inconclusive += outcome == "Inconclusive"
                conclusive += outcome != "Inconclusive"
                if failed > analysis["failureLimit"]:
                    abort(f"analysis failed {failed} times at {weight}%")
                    STATE.analysis = "Failed"
                    return
                if inconclusive > analysis["inconclusiveLimit"]:
                    STATE.phase, STATE.analysis = "Paused", "Inconclusive"
                    STATE.message = f"analysis inconclusive {inconclusive} times at {weight}%"
                    log(action="pause", version=version, weight=weight, reason=STATE.message)
                    STATE.aborted.wait()  # until someone aborts it
                    return
                if STATE.aborted.wait(analysis["interval"]):
                    return
            STATE.analysis = "Successful"
        champion = client.get_model_version_by_alias(MODEL, "champion").version
        client.set_registered_model_alias(MODEL, "previous", champion)
        client.set_registered_model_alias(MODEL, "champion", version)
        deploy(TRACKING, STABLE, Path(STABLE_MODELS))
        if not step_to(0):
            return
        client.delete_registered_model_alias(MODEL, ALIAS)
        STATE.phase, STATE.weight, STATE.message = "Healthy", 0, f"promoted {version}"
        log(action="promote", version=version, replaced=champion)
    except Exception as exc:  # a broken step aborts: never leave a half-done rollout routed
        abort(f"{type(exc).__name__}: {exc}")


def abort(reason: str) -> None:
    with LOCK:
        STATE.aborted.set()
        set_weights(0)
        STATE.phase, STATE.weight, STATE.message = "Degraded", 0, reason
    log(action="abort", version=STATE.version, reason=reason)


def start() -> tuple[int, str]:
    with LOCK:
        if STATE.phase in ("Progressing", "Paused") and not STATE.aborted.is_set():
            return 409, f"a rollout of {STATE.version} is under way"
        version = MlflowClient(TRACKING).get_model_version_by_alias(MODEL, ALIAS).version
        STATE.__init__(version=str(version), phase="Progressing")  # type: ignore[misc]
        log(action="start", version=version)
        runner = threading.Thread(target=run, args=(str(version),), daemon=True)
        RUNNING[:] = [runner]
        runner.start()
        return 202, f"rolling out {version}"


def metrics() -> str:
    """The rollout in Argo Rollouts' metric names and labels."""
    labels = f'name="{MODEL}",namespace="fraud-staging"'
    phases = ("Progressing", "Paused", "Healthy", "Degraded")
    lines = [
        "# TYPE rollout_info gauge",
        f'rollout_info{{{labels},phase="{STATE.phase}",strategy="canary"}} 1',
        "# TYPE rollout_phase gauge",
        *(f'rollout_phase{{{labels},phase="{p}",strategy="canary"}} {int(p == STATE.phase)}'
          for p in phases),
        "# TYPE fraud_canary_weight gauge",
        f"fraud_canary_weight{{{labels}}} {STATE.weight}",
    ]  # fmt: skip
    if STATE.analysis:
        lines += [
            "# TYPE analysis_run_info gauge",
            f'analysis_run_info{{name="{MODEL}-{STATE.version}",namespace="fraud-staging",'
            f'phase="{STATE.analysis}"}} 1',
        ]
    return "\n".join(lines) + "\n"


class Api(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def reply(self, code: int, body: str, kind: str = "application/json") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/rollouts":
            code, message = start()
        elif self.path == "/abort":
            running = STATE.phase in ("Progressing", "Paused") and not STATE.aborted.is_set()
            if running:
                abort("aborted on request")
            for runner in RUNNING:
                runner.join(timeout=120)
            code, message = 200, "aborted" if running else "no rollout under way"
        else:
            code, message = 404, "no such path"
        self.reply(code, json.dumps({"message": message}))

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self.reply(200, metrics(), "text/plain; version=0.0.4")
            return
        status = {"version": STATE.version, "phase": STATE.phase, "weight": STATE.weight,
                  "analysis": STATE.analysis, "message": STATE.message}  # fmt: skip
        self.reply(200, json.dumps(status))


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Api).serve_forever()
