"""The example CI workflows run commands and options that exist, and upload both reports."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import yaml

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


def _commands(document: object) -> list[str]:
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("run", "script") and isinstance(value, str):
                found.append(value)
            elif key == "script" and isinstance(value, list):
                found += [str(v) for v in value]
            else:
                found += _commands(value)
    elif isinstance(document, list):
        for item in document:
            found += _commands(item)
    return found


def test_github_workflow_runs_the_plugin_and_uploads_junit_and_html() -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions-nightly.yml").read_text())
    [pytest_call] = [c for c in _commands(workflow) if c.startswith("pytest")]
    options = [w for w in shlex.split(pytest_call) if w.startswith("--mlchaos")]
    assert options == ["--mlchaos-scenario", "--mlchaos-report-dir"]
    scenario = shlex.split(pytest_call)[shlex.split(pytest_call).index("--mlchaos-scenario") + 1]
    assert (ROOT / scenario).is_file()
    upload = workflow["jobs"]["gameday"]["steps"]
    paths = next(s["with"]["path"] for s in upload if "upload-artifact" in s.get("uses", ""))
    assert "report.html" in paths and "junit.xml" in paths


def test_gitlab_example_uses_real_mlchaos_options() -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-ci-nightly.yml").read_text())["nightly-resilience"]
    [call] = [c for c in job["script"] if c.startswith("mlchaos ")]
    helped = subprocess.run(
        [sys.executable, "-m", "mlchaos", "gameday", "--help"], capture_output=True, text=True
    ).stdout
    for option in re.findall(r"--[a-z-]+", call):
        assert option in helped, option
    assert job["artifacts"]["reports"]["junit"] == "reports/*/junit.xml"
