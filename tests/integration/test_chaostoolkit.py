"""mlchaos as a Chaos Toolkit extension: `chaos discover` and a raw `chaos run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mlchaos.journal import EventRecord, Journal
from mlchaos.load.payload import prepare
from mlchaos.load.runner import Locust
from mlchaos.protocols import Codec
from mlchaos.reference.config import StackConfig
from mlchaos.schema import Load
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
CHAOS = str(Path(sys.executable).parent / "chaos")


def test_chaos_discover_lists_the_extension(tmp_path: Path) -> None:
    out = tmp_path / "discovery.json"
    done = subprocess.run(
        [CHAOS, "discover", "--no-install", "--discovery-path", str(out), "mlchaos"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    discovery = json.loads(out.read_text())
    names = {(a["type"], a["name"]) for a in discovery["activities"]}
    assert {
        ("action", "inject_fault"),
        ("action", "revert_faults"),
        ("probe", "fault_active"),
        ("probe", "wait_for_alert"),
        ("probe", "wait_for_recovery"),
    } <= names


def test_raw_chaostoolkit_experiment_runs_against_the_stack(
    stack: StackConfig, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.jsonl"
    env = {
        **os.environ,
        "MLCHAOS_JOURNAL": str(journal),
        "MLCHAOS_GATEWAY_URL": stack.url("gateway"),
        "MLCHAOS_REGISTRY_URL": stack.url("registry"),
        "MLCHAOS_PROMETHEUS_URL": stack.url("prometheus"),
        "MLCHAOS_ALERTMANAGER_URL": stack.url("alertmanager"),
        "MLCHAOS_PAGERDUTY_URL": stack.url("pagerduty"),
    }
    experiment = ROOT / "experiments" / "chaostoolkit" / "latency-spike.json"
    with Locust(
        Load(users=5, rate=60),
        stack.url("gateway"),
        stack.model_name,
        prepare(Codec(), tmp_path / "payload.jsonl", dataset=stack.traffic_path),
        tmp_path,
    ):
        _wait_for_traffic(stack)
        done = subprocess.run(
            [
                CHAOS,
                "--no-log-file",
                "run",
                "--rollback-strategy=always",
                "--journal-path",
                str(tmp_path / "chaos-journal.json"),
                str(experiment),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    events = {r.event: r for r in Journal(journal).of(EventRecord)}
    assert set(events) == {"injected", "detected", "reverted", "recovered"}
    assert events["injected"].time < events["reverted"].time < events["recovered"].time
    assert events["detected"].source == "prometheus alert activeAt"
    assert requests.get(f"{stack.url('gateway')}/admin/faults", timeout=5).json()["faults"] == []


def _wait_for_traffic(stack: StackConfig) -> None:
    from tests.conftest import wait_until

    query = "sum(rate(mlchaos_gateway_requests_total[5s])) > 10"

    def flowing() -> bool:
        answer = requests.get(
            f"{stack.url('prometheus')}/api/v1/query", params={"query": query}, timeout=5
        ).json()
        return bool(answer["data"]["result"])

    wait_until(flowing, timeout=30)
