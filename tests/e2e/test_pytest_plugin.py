"""The pytest plugin runs a scenario's experiments as test items against the real stack, and its
fixtures run experiments from users' own tests, in one game day with one set of reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT
from tests.e2e.conftest import run_dirs, write_scenario

pytestmark = pytest.mark.e2e


def test_scenario_items_and_the_run_fixture(
    pytester: pytest.Pytester, stack: StackConfig, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path,
        "plugin",
        expect__detection={"alert": "ModelAccuracyCollapse", "within": "5s"},
        give_up_after="12s",
    )
    pytester.makepyfile(
        test_mine=f"""
        import pytest

        @pytest.mark.mlchaos
        def test_bad_version_rolls_back(mlchaos_run):
            result = mlchaos_run({str(ROOT / "experiments" / "bad-version.yaml")!r})
            assert result.verdict == "pass", result.reasons
            assert result.durations_s["mttr"] <= 30
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:locust", "-v",
        "--mlchaos-scenario", str(scenario),
        "--mlchaos-state-dir", str(stack.state_dir),
        "--mlchaos-report-dir", "reports",
        "test_mine.py",
        timeout=300,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_mine.py::test_bad_version_rolls_back PASSED*",
            "*plugin-scenario.yaml::plugin FAILED*",
            "plugin: FAIL",
            "  - detection (MTTD): target 5s missed, no loaded alerting rule defines "
            "ModelAccuracyCollapse*",
            "mlchaos reports: reports*",
        ]
    )
    [run_dir] = run_dirs(pytester.path / "reports")
    for name in ("results.json", "junit.xml", "postmortem.md", "report.html"):
        assert (run_dir / name).is_file(), name
