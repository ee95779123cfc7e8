"""Before anything is injected, targets are checked against the floor read from live configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("field", "within", "message"),
    [
        ("detection", "1500ms", "expect.detection.within 1.5s is below the physical floor 2s = "
         "scrape 1s + evaluation 1s;"),
        ("paging", "3s", "expect.paging.within 3s is below the physical floor 4s = scrape 1s + "
         "evaluation 1s + for 1s + group_wait 1s;"),
    ],
)  # fmt: skip
def test_a_target_below_its_floor_is_refused_before_injection(
    stack: StackConfig, tmp_path: Path, field: str, within: str, message: str
) -> None:
    """Detection is the alert going pending: its floor is scrape + evaluation. Paging comes
    after the rule's ``for`` and Alertmanager's ``group_wait`` too."""
    experiment = yaml.safe_load((ROOT / "experiments" / "bad-version.yaml").read_text())
    experiment["expect"][field]["within"] = within
    path = tmp_path / "too-fast.yaml"
    path.write_text(yaml.safe_dump(experiment))
    audit_url = f"{stack.url('registry')}/v1/models/{stack.model_name}/audit"
    before = len(requests.get(audit_url, timeout=5).json()["audit"])

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlchaos",
            "run",
            str(path),
            "--state-dir",
            str(stack.state_dir),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(requests.get(audit_url, timeout=5).json()["audit"]) == before  # nothing injected
