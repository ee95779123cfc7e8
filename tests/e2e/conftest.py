"""Game days through the real `mlchaos` command against the session's real stack."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import yaml

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT, wait_until

CATALOGUE = ROOT / "experiments" / "bad-version.yaml"


def mlchaos(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchaos", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def start_mlchaos(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlchaos", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def write_scenario(
    directory: Path, name: str, source: Path = CATALOGUE, **experiment_changes: Any
) -> Path:
    """A one-experiment scenario: a catalogue experiment with changes applied.

    ``expect__detection={...}`` sets ``experiment["expect"]["detection"]``.
    """
    experiment = yaml.safe_load(source.read_text())
    for dotted, value in experiment_changes.items():
        node = experiment
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    experiment["name"] = name
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(experiment))
    scenario = {
        "version": 1,
        "name": name,
        "experiments": [f"{name}.yaml"],
        "load": {"users": 5, "rate": 60, "ramp_up": "2s"},
        "responders": {"mode": "automated", "ack_delay": "1s"},
        "cool_down": "30s",
    }
    path = directory / f"{name}-scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def results(report_dir: Path) -> dict[str, Any]:
    [run] = list(report_dir.iterdir())
    return dict(json.loads((run / "results.json").read_text()))


def production(stack: StackConfig) -> str:
    url = f"{stack.url('registry')}/v1/models/{stack.model_name}"
    return str(requests.get(url, timeout=5).json()["production"])


def set_controller(stack: StackConfig, enabled: bool) -> None:
    requests.post(
        f"{stack.url('rollback-controller')}/v1/enabled", json={"enabled": enabled}, timeout=5
    ).raise_for_status()


def journal_text(report_dir: Path) -> str:
    return "".join(p.read_text() for p in report_dir.glob("*/journals/*.jsonl"))


@contextlib.contextmanager
def controller_disabled(stack: StackConfig) -> Iterator[None]:
    """The rollback controller off, as a broken automation would be; back on afterwards."""
    set_controller(stack, enabled=False)
    try:
        yield
    finally:
        set_controller(stack, enabled=True)


def start_gameday(stack: StackConfig, scenario: Path, reports: Path) -> subprocess.Popen[str]:
    """Start `mlchaos gameday` and return once the fault is injected."""
    process = start_mlchaos(
        "gameday", str(scenario), "--state-dir", str(stack.state_dir), "--report-dir", str(reports)
    )
    wait_until(lambda: '"event": "injected"' in journal_text(reports), 60)
    return process


def kill_9_after_injection(stack: StackConfig, scenario: Path, reports: Path) -> None:
    process = start_gameday(stack, scenario, reports)
    process.kill()
    process.communicate(timeout=30)
