"""The `http` target: a user's own service, known only through a service file.

The "user's service" is a second, independently configured stack: another model name, other
ports, its own Prometheus, Alertmanager and PagerDuty receiver, and alert rules with other
names. mlchaos reaches it only through the service file and the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlchaos.reference import supervisor
from mlchaos.reference.config import COMPONENTS, StackConfig
from tests.conftest import ROOT, free_ports
from tests.e2e.conftest import results

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fraud_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    cfg = StackConfig(
        state_dir=tmp_path_factory.mktemp("fraud"),
        ports=dict(zip(COMPONENTS, free_ports(len(COMPONENTS)), strict=True)),
        model_name="fraud",
        pagerduty_service="fraud-oncall",
        alert_prefix="Fraud",
    )
    supervisor.up(cfg)
    yield cfg
    supervisor.down(cfg)


def service_file(cfg: StackConfig, directory: Path, pager: bool = True) -> Path:
    document = {
        "version": 1,
        "name": "fraud-scorer",
        "model": "fraud",
        "endpoints": {
            "gateway": cfg.url("gateway"),
            "prometheus": cfg.url("prometheus"),
            "alertmanager": cfg.url("alertmanager"),
        },
        "pagerduty": {
            "url": cfg.url("pagerduty"),
            "service": "fraud-oncall",
            "routing_key_env": "FRAUD_PD_ROUTING_KEY",
            "ca_file": str(cfg.tls_dir / "cert.pem"),
        },
        "traffic_query": 'sum(rate(mlchaos_gateway_requests_total{model="fraud"}[5s]))',
        "payload": {"file": str(cfg.traffic_path)},
        "versions": {"fallback": "fallback-v1"},  # what the fallback's answers say they are
        # the team's own switch, which its runbook's `action: fallback` step runs as a drill
        "fallback": {"http": {"url": f"{cfg.url('registry')}/v1/models/fraud/fallback"}},
    }
    if not pager:
        del document["pagerduty"]
    path = directory / "fraud-service.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def fraud_error_burst(tmp_path: Path, paged: bool = True) -> Path:
    text = (ROOT / "experiments" / "error-burst.yaml").read_text()
    experiment = yaml.safe_load(text.replace("credit-risk", "fraud"))
    experiment["expect"]["detection"]["alert"] = "FraudEdgeHighErrorRate"
    experiment["expect"]["paging"]["service"] = "fraud-oncall"
    if not paged:  # a team without a pager: detection is all there is to time
        experiment["expect"] = {"detection": experiment["expect"]["detection"]}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment))
    return tmp_path / "exp.yaml"


def run_on(
    fraud_stack: StackConfig, tmp_path: Path, pager: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAUD_PD_ROUTING_KEY": fraud_stack.routing_key()}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlchaos",
            "run",
            str(fraud_error_burst(tmp_path, paged=pager)),
            "--service",
            str(service_file(fraud_stack, tmp_path, pager)),
            "--rate",
            "60",
            "--users",
            "5",
            "--report-dir",
            str(tmp_path / "reports"),
            "--state-dir",
            str(tmp_path / "no-reference-stack"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


def test_error_burst_on_a_users_own_service(fraud_stack: StackConfig, tmp_path: Path) -> None:
    done = run_on(fraud_stack, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    [exp] = results(tmp_path / "reports")["experiments"]
    assert exp["verdict"] == "pass", exp["reasons"]
    # read from what was served: the team's own fallback answered (no registry in the file:
    # nothing names who switched it, but mlchaos did nothing before it)
    assert exp["sources"]["mitigated"].startswith("gateway answers (the fallback fallback-v1")
    assert exp["actors"]["mitigated"] == {
        "actor": "the team's systems (no record names who)", "party": "team"}  # fmt: skip
    drill = {s["step"]: s for s in exp["runbook_steps"]}
    assert drill["Route traffic to the fallback model"]["command"] == "mlchaos action fallback"
    assert drill["Route traffic to the fallback model"]["ok"]  # the service file's hook ran
    assert not (tmp_path / "no-reference-stack" / "stack.json").exists()  # nothing else started


def test_a_team_without_a_pager_times_detection(fraud_stack: StackConfig, tmp_path: Path) -> None:
    done = run_on(fraud_stack, tmp_path, pager=False)
    assert done.returncode == 0, done.stdout + done.stderr
    [exp] = results(tmp_path / "reports")["experiments"]
    assert exp["verdict"] == "pass", exp["reasons"]
    assert exp["timeline"]["detected"] is not None and exp["pages"] == []
    assert "the service file names no pager" in done.stderr


def test_service_file_errors_have_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad-service.yaml"
    path.write_text(
        "version: 1\nname: x\nmodel: x\nendpoints:\n  gateway: ftp://x\n"
        "pagerduty: {service: s}\ntraffic_query: q\nrollback: {}\n"
    )
    from mlchaos.errors import ValidationFailed
    from mlchaos.loader import load_service

    with pytest.raises(ValidationFailed) as failed:
        load_service(path)
    messages = [str(p) for p in failed.value.problems]
    assert f"{path}:4: endpoints.prometheus: required field is missing" in messages
    assert f"{path}:5: endpoints.gateway: 'ftp://x' is not an http:// or https:// URL" in messages
    assert f"{path}:8: rollback: give exactly one of 'http' or 'command'" in messages
