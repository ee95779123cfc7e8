"""Game days through the real `mlchaos` command against the session's real stack."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlchaos.observe import serving
from mlchaos.observe.gateway import GatewayClient
from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT, wait_until

CATALOGUE = ROOT / "experiments" / "bad-version.yaml"
SECRET_VARIABLES = (
    "MLCHAOS_PAGERDUTY_ROUTING_KEY", "MLCHAOS_GATEWAY_TOKEN", "FRAUD_PD_ROUTING_KEY",
    "FRAUD_MONITORING_PASSWORD", "FRAUD_PAGERDUTY_TOKEN",
)  # fmt: skip
"""Where the e2e suite's stacks put their secrets for `mlchaos` to read."""


@pytest.fixture(autouse=True)
def reference_stack_as_expected(request: pytest.FixtureRequest) -> None:
    """Before each test on the shared reference stack: the rollback controller on, no failed
    answer left in the gateway's serving window, and production on the version the stack
    expects.

    A page under load alone (a false alarm on a busy runner) can make the controller roll
    production back after a test has ended. The test that ran then judges it; the next one
    must not inherit it, or one stray alert fails every test after it for one cause. Putting it
    back is said as a warning in pytest's summary, so it is never silent.
    """
    if "stack" not in request.fixturenames:
        return
    stack: StackConfig = request.getfixturevalue("stack")
    set_controller(stack, enabled=True)
    # The gateway judges "serving" on every answer of its last few seconds. A test that sent
    # requests for a model nobody serves ends with 404s in that window; the next game day,
    # 3 s later, was judged "not serving: 28% of 176 requests succeeded".
    gateway = GatewayClient(stack.url("gateway"))
    wait_until(lambda: serving.recent(gateway)[1] in (None, 1.0), serving.WINDOW_S + 10)
    found, expected = production(stack), stack.production_version
    if found == expected:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # shown in pytest's summary, not raised as an error
        warnings.warn(
            f"production was {found} before {request.node.name}; put back to {expected}",
            stacklevel=1,
        )
    requests.post(
        f"{stack.url('registry')}/v1/models/{stack.model_name}/promote",
        json={"version": expected, "actor": "e2e-isolation", "reason": "test isolation"},
        timeout=5,
    ).raise_for_status()
    wait_until(lambda: production(stack) == expected, 10)


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
            secrets |= set(json.loads(value.secrets_path.read_text())["routing_keys"].values())
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
