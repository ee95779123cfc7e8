"""A stop condition ends the fault at once: a guard that breaches mid-fault reverts it within
2 s of the breach being visible in Prometheus, as an independent observer polling Prometheus
at 10 Hz sees it, and the verdict is *stopped* (exit 1) with the guard and the time it took."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT, set_controller
from tests.e2e.conftest import journal_text, mlchaos, results, write_scenario

pytestmark = pytest.mark.e2e
GUARD = (
    '(sum(rate(mlchaos_gateway_requests_total{model="credit-risk",code=~"5.."}[5s])) or vector(0))'
    ' / sum(rate(mlchaos_gateway_requests_total{model="credit-risk"}[5s]))'
)


def test_a_breached_guard_reverts_the_fault_within_2s_and_says_stopped(
    stack: StackConfig, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path, "guarded", ROOT / "experiments" / "error-burst.yaml",
        fault__share="100%", stop_when=[{"name": "edge-errors-under-half", "query": GUARD,
                                         "below": 0.5}],
    )  # fmt: skip
    reports = tmp_path / "reports"
    first_breach: list[float] = []
    done_watching = threading.Event()

    def observe() -> None:  # as Prometheus shows it, 10 times a second, from the injection on
        while not done_watching.is_set() and '"event": "injected"' not in journal_text(reports):
            time.sleep(0.05)
        while not done_watching.is_set() and not first_breach:
            answer = requests.get(f"{stack.url('prometheus')}/api/v1/query",
                                  params={"query": GUARD}, timeout=5).json()  # fmt: skip
            values = [float(r["value"][1]) for r in answer["data"]["result"]]
            if any(v >= 0.5 for v in values):
                first_breach.append(time.time())
            time.sleep(0.1)

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    # The guard is what stops this fault: the team's fallback must not take it out of what is
    # served first (CI#7 beside a busy core: the fallback answered at +2.0 s, the 5 s error
    # ratio peaked under the guard's 0.5, and the run passed instead of stopping).
    set_controller(stack, False, "fallback-controller")
    try:
        done = mlchaos("gameday", str(scenario), "--state-dir", str(stack.state_dir),
                       "--report-dir", str(reports))  # fmt: skip
    finally:
        set_controller(stack, True, "fallback-controller")
        done_watching.set()
        observer.join(10)
    document = results(reports)
    [experiment] = document["experiments"]
    assert (done.returncode, experiment["verdict"]) == (1, "stopped"), done.stdout + done.stderr
    assert document["verdict"] == "fail"  # the game day's, as results.json's contract has it
    assert experiment["reasons"][0].startswith("stopped: edge-errors-under-half = ")
    audit = requests.get(f"{stack.url('gateway')}/admin/audit", timeout=5).json()["audit"]
    revert = next(e for e in reversed(audit) if e["action"] == "revert")
    reverted = datetime.fromisoformat(revert["at"]).timestamp()
    assert first_breach, "the observer never saw the guard breached"
    assert reverted - first_breach[0] <= 2.0, f"reverted {reverted - first_breach[0]:.2f}s after"
    assert experiment["timeline"]["reverted"] is not None
