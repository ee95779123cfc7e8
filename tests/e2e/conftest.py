"""Game days through the real `mlchaos` command against the session's real stack."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT, production, set_controller, wait_until  # noqa: F401

CATALOGUE = ROOT / "experiments" / "bad-version.yaml"
SECRET_VARIABLES = (
    "MLCHAOS_PAGERDUTY_ROUTING_KEY", "MLCHAOS_GATEWAY_TOKEN", "FRAUD_PD_ROUTING_KEY",
    "FRAUD_MONITORING_PASSWORD", "FRAUD_PAGERDUTY_TOKEN",
)  # fmt: skip
"""Where the e2e suite's stacks put their secrets for `mlchaos` to read."""


@pytest.fixture(autouse=True)
def no_secret_written(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """After every e2e test: no secret it used (a routing key, a password, an API token) is in
    any file it wrote. Its files are under ``tmp_path``; the secrets are the variables above as
    the test left them, and the routing keys of every stack it ran on."""
    yield
    secrets = {os.environ.get(name, "") for name in SECRET_VARIABLES}
    for name in request.fixturenames:
        value = request.getfixturevalue(name) if name in ("stack", "fraud_stack") else None
        if isinstance(value, StackConfig) and value.secrets_path.exists():
            held = json.loads(value.secrets_path.read_text())
            secrets |= set(held["routing_keys"].values()) | set(held.get("api_tokens", []))
        if name == "fraud_staging":
            state = request.getfixturevalue(name)
            for file in ("routing-key", "monitoring-password", "pagerduty-api-token"):
                secrets.add((state / file).read_text().strip())
    found = [s.encode() for s in secrets if len(s) >= 8]
    leaks = [
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.is_file() and not path.is_symlink() and any(s in path.read_bytes() for s in found)
    ]
    assert leaks == [], f"a secret was written to {leaks}"


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
    """The one run's results in ``report_dir`` (a run that was killed leaves its open-run
    marker folder, ``.open-runs``, beside it: not a run)."""
    [run] = run_dirs(report_dir)
    return dict(json.loads((run / "results.json").read_text()))


def run_dirs(report_dir: Path) -> list[Path]:
    """The run folders in ``report_dir``: not the run history beside them (history.sqlite),
    nor the open-run markers (.open-runs)."""
    return sorted(p for p in report_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def journal_text(report_dir: Path) -> str:
    return "".join(p.read_text() for p in report_dir.glob("*/journals/*.jsonl"))


@contextlib.contextmanager
def controller_disabled(
    stack: StackConfig, controller: str = "rollback-controller"
) -> Iterator[None]:
    """A controller off, as a broken automation would be; back on afterwards."""
    set_controller(stack, False, controller)
    try:
        yield
    finally:
        set_controller(stack, True, controller)


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
