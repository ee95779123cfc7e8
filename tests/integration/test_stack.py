"""The reference stack as real processes on loopback: health, ports, rules, and a clean `down`."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mlchaos.errors import PortInUse
from mlchaos.load.payload import read_payload
from mlchaos.loader import load_service
from mlchaos.reference import service as reference
from mlchaos.reference import supervisor
from mlchaos.reference.config import COMPONENTS, StackConfig
from tests.conftest import ROOT, new_stack_config, wait_until

pytestmark = pytest.mark.integration


def test_status_json_lists_every_component_healthy(stack: StackConfig) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "status", "--json", "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    components = json.loads(done.stdout)["components"]
    assert tuple(components) == COMPONENTS
    assert all(c["healthy"] and c["pid"] for c in components.values())
    assert components["pagerduty"]["url"].startswith("https://127.0.0.1:")


def test_the_stack_describes_itself_with_a_service_file(stack: StackConfig) -> None:
    """The reference stack is one configuration of the adapters, written as any team's
    staging would be: the file validates, and says what the engine uses."""
    written = load_service(stack.state_dir / "service.yaml")
    assert written == reference.service(stack)
    assert written.payload_file is not None and len(read_payload(written.payload_file)) == 2000
    assert written.segments is not None and written.segments.feature == "age"
    assert written.versions.bad["inverted"] == "v3-inverted"
    assert written.routing_key() == stack.routing_key()
    assert stat.S_IMODE(os.stat(stack.routing_key_path).st_mode) == 0o600
    assert stack.routing_key() not in (stack.state_dir / "service.yaml").read_text()


def test_prometheus_scrapes_the_model_and_loads_the_rules(stack: StackConfig) -> None:
    prometheus = stack.url("prometheus")

    def target_up() -> bool:
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
        return any(t["health"] == "up" for t in targets["activeTargets"])

    wait_until(target_up, timeout=15)
    groups = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"ModelHighErrorRate", "ModelPredictionShift"} <= names


def test_generated_rules_pass_promtool(tmp_path: Path) -> None:
    rules = subprocess.run(
        [sys.executable, "-m", "mlchaos", "rules", "--model", "fraud"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (tmp_path / "rules.yml").write_text(rules)
    check = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout
    assert 'model="fraud"' in rules and "runbook_url" in rules


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    cfg = new_stack_config(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", cfg.ports["prometheus"]))
        holder.listen()
        with pytest.raises(PortInUse) as err:
            supervisor.up(cfg)
    assert f"port {cfg.ports['prometheus']} for prometheus is already in use" in str(err.value)
    assert "--port prometheus=PORT" in str(err.value)
    assert not supervisor.any_running(cfg)


def test_down_leaves_no_process_behind(tmp_path: Path) -> None:
    cfg = new_stack_config(tmp_path)
    supervisor.up(cfg)
    pids = json.loads((tmp_path / "pids.json").read_text())
    assert len(pids) == len(COMPONENTS)
    assert sorted(supervisor.down(cfg)) == sorted(pids)

    def all_gone() -> bool:
        return not any(_exists(pid) for pid in pids.values())

    wait_until(all_gone, timeout=10)
    for port in cfg.ports.values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_up_cli_reports_ready_and_rejects_bad_port_flags(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "up", "--state-dir", str(tmp_path), "--port", "nope=1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "--port nope=1: expected NAME=PORT" in done.stderr
    assert "Traceback" not in done.stderr


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/status").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    )


def test_rules_need_to_know_the_model_they_watch() -> None:
    """No default model: rules for a model nobody serves would never fire."""

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mlchaos", "rules", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)

    bare = rules()
    assert bare.returncode == 2 and "give --model NAME or --service FILE" in bare.stderr
    from_service = rules("--service", "tests/fixtures/misfit/service.yaml")
    assert from_service.returncode == 0, from_service.stderr
    assert 'model="scorer"' in from_service.stdout
