"""The revert matrix for faults the chaos gateway holds: each way a run can end puts staging back.

bad_version (a registry lease) has its own tests in test_gameday.py for every way. The gateway
faults share one lease mechanism, so each fault type and each ending is covered at least once
rather than every pair: Ctrl-C, SIGTERM, `kill -9` then `mlchaos recover`, `kill -9` then the
gateway's own timer.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT, production, wait_until
from tests.e2e.conftest import journal_text, mlchaos, start_gameday, write_scenario

pytestmark = pytest.mark.e2e


def leases(stack: StackConfig) -> list[dict[str, object]]:
    return list(requests.get(f"{stack.url('gateway')}/admin/faults", timeout=5).json()["faults"])


def fault_active(stack: StackConfig) -> float:
    metrics = requests.get(f"{stack.url('gateway')}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mlchaos_fault_active{")
    )


@pytest.mark.parametrize(
    ("experiment", "ending"),
    [
        ("schema-change", "sigint"),
        ("latency-spike", "sigterm"),
        ("data-drift", "kill-9-recover"),
        ("latency-spike", "kill-9-ttl"),
    ],
)
def test_a_gateway_fault_is_reverted_however_the_run_ends(
    stack: StackConfig, tmp_path: Path, experiment: str, ending: str
) -> None:
    ttl = "4s" if ending == "kill-9-ttl" else "10m"
    source = ROOT / "experiments" / f"{experiment}.yaml"
    scenario = write_scenario(tmp_path, f"matrix-{experiment}", source, fault__ttl=ttl)
    reports = tmp_path / "reports"
    process = start_gameday(stack, scenario, reports)
    assert leases(stack), "the fault should be in"
    if ending in ("sigint", "sigterm"):
        process.send_signal(signal.SIGINT if ending == "sigint" else signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
    else:
        process.kill()
        process.communicate(timeout=30)
        if ending == "kill-9-recover":
            assert leases(stack), "nothing ran after kill -9"
            done = mlchaos("recover", "--state-dir", str(stack.state_dir))
            assert done.returncode == 0, done.stderr
            assert "recovered: 1 fault(s) reverted now" in done.stderr
    wait_until(lambda: not leases(stack), timeout=20)  # the TTL case: the gateway's own reaper
    wait_until(lambda: fault_active(stack) == 0, timeout=10)
    if ending == "kill-9-ttl":  # recover finds the dead run, and says the fault ended by itself
        done = mlchaos("recover", "--state-dir", str(stack.state_dir))
        assert "nothing to recover; 1 had already ended by themselves" in done.stderr
    assert '"event": "reverted"' in journal_text(reports)


def canary_of(stack: StackConfig) -> object:
    url = f"{stack.url('registry')}/v1/models/{stack.model_name}"
    return requests.get(url, timeout=5).json()["canary"]


def rollout_phase(stack: StackConfig) -> str:
    return str(requests.get(f"{stack.url('canary-controller')}/health", timeout=5).json()["phase"])


@pytest.mark.parametrize("ending", ["kill-9-recover", "kill-9-ttl"])
def test_a_canary_is_withdrawn_and_its_rollout_stopped_however_the_run_ends(
    stack: StackConfig, tmp_path: Path, ending: str
) -> None:
    """The canary's lease is the registry's: `mlchaos recover` runs the rollout's abort step and
    ends it; with no runner at all, the registry's timer withdraws the canary, and the canary
    controller, refused its next weight, stops. Production is v2 either way."""
    ttl = "6s" if ending == "kill-9-ttl" else "10m"
    source = ROOT / "experiments" / "canary-control.yaml"
    scenario = write_scenario(tmp_path, "matrix-canary", source, fault__ttl=ttl)
    reports = tmp_path / "reports"
    process = start_gameday(stack, scenario, reports)
    assert canary_of(stack) is not None and rollout_phase(stack) == "Progressing"
    process.kill()
    process.communicate(timeout=30)
    if ending == "kill-9-recover":
        assert canary_of(stack) is not None, "nothing ran after kill -9"
        done = mlchaos("recover", "--state-dir", str(stack.state_dir))
        assert done.returncode == 0, done.stderr
        assert "recovered: 1 fault(s) reverted now" in done.stderr
        assert rollout_phase(stack) == "Degraded"  # the abort step returned once it stopped
    wait_until(lambda: canary_of(stack) is None, timeout=20)
    wait_until(lambda: rollout_phase(stack) == "Degraded", timeout=30)
    assert production(stack) == "v2"
