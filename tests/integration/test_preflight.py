"""Before anything is injected, targets are checked against the floor read from live configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from mlchaos.stack.config import StackConfig
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_detection_target_below_the_floor_is_refused_before_injection(
    stack: StackConfig, tmp_path: Path
) -> None:
    experiment = yaml.safe_load((ROOT / "experiments" / "bad-version.yaml").read_text())
    experiment["expect"]["detection"]["within"] = "2s"
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
    assert (
        "expect.detection.within 2s is below the physical floor 4s = scrape 1s + evaluation 1s"
        " + for 1s + group_wait 1s" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert len(requests.get(audit_url, timeout=5).json()["audit"]) == before  # nothing injected
