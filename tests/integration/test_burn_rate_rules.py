"""The SLO burn-rate rules `mlchaos rules` writes: real `promtool check rules`, and the
`promtool test rules` unit tests it ships beside them, for every profile and for tiers a team
writes itself, on the example staging's SLO."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from string import Template

import pytest
import yaml

from mlchaos.schema.slo import PROFILES
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples" / "mlserver-mlflow"
OWN_TIERS = {"tiers": [
    {"name": "page", "factor": 10, "long": "30m", "short": "3m", "severity": "critical",
     "for": "2m"},
    {"name": "notice", "factor": 2, "long": "12h", "short": "1h", "severity": "info"},
], "time_scale": 0.01}  # fmt: skip


def example_service(tmp_path: Path, alerting: dict[str, object]) -> Path:
    """The example's service file, its placeholders filled, its SLOs' alerting as given."""
    text = Template((EXAMPLE / "service.yaml.in").read_text()).safe_substitute(
        gateway_port=1, prometheus_port=2, alertmanager_port=3, mlflow_port=4, mlserver_port=5,
        receiver_port=6, canary_port=7, monitoring_user="m", python="python",
        example=str(EXAMPLE),
        state=str(tmp_path),
    )  # fmt: skip
    document = yaml.safe_load(text)
    for slo in document["slos"]:  # availability and declines
        slo["alerting"] = alerting
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    "alerting",
    [{"profile": p, "time_scale": 0.01} for p in PROFILES] + [{"profile": "workbook"}, OWN_TIERS],
    ids=[*PROFILES, "workbook-unscaled", "own-tiers"],
)
def test_rules_pass_promtool_check_and_their_shipped_tests(
    tmp_path: Path, alerting: dict[str, object]
) -> None:
    service = example_service(tmp_path, alerting)
    out = tmp_path / "rules"
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "rules", "--service", str(service), "--tests", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    checked = subprocess.run(["promtool", "check", "rules", str(out / "rules.yml")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "rules.test.yml"], cwd=out,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tests = yaml.safe_load((out / "rules.test.yml").read_text())["tests"]
    tiers = OWN_TIERS["tiers"] if "tiers" in alerting else PROFILES[str(alerting["profile"])]
    slos = yaml.safe_load(service.read_text())["slos"]
    assert len(slos) == 2 and len(tests) == 3 * len(tiers) * len(slos)  # per SLO and tier


def test_a_shipped_test_fails_when_the_alert_is_wrong(tmp_path: Path) -> None:
    """The shipped tests can fail: with a tier's factor doubled in the rules alone, the
    burning case no longer fires and promtool says so."""
    service = example_service(tmp_path, {"profile": "4x-for-1h", "time_scale": 0.01})
    out = tmp_path / "rules"
    subprocess.run(
        [sys.executable, "-m", "mlchaos", "rules", "--service", str(service), "--tests", str(out)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rules = (out / "rules.yml").read_text()
    assert "> 0.04\n" in rules  # 4x a 1% budget
    (out / "rules.yml").write_text(rules.replace("> 0.04", "> 0.08"))
    tested = subprocess.run(["promtool", "test", "rules", "rules.test.yml"], cwd=out,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    said = tested.stdout + tested.stderr
    assert tested.returncode == 1 and "AvailabilityBurnRatePage: burning" in said, said
