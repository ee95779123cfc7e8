"""The pytest plugin, loaded through its pytest11 entry point in a real pytest process:
collection, markers, and staying out of the way of sessions that do not ask for it. (Running
items against the stack is tested in tests/e2e.)"""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
NIGHTLY = str(ROOT / "scenarios" / "nightly.yaml")


def test_each_experiment_of_a_scenario_is_a_test_item(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:locust", "--collect-only", "-q", "--mlchaos-scenario", NIGHTLY
    )
    result.stdout.fnmatch_lines(
        [
            "*nightly.yaml::bad-version-inverted",
            "*nightly.yaml::concept-drift",
            "10 tests collected*",
        ]
    )
    assert result.ret == 0


def test_items_carry_the_mlchaos_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain(): pass")
    args = ("-p", "no:locust", "--collect-only", "-q", "--mlchaos-scenario", NIGHTLY, ".")
    pytester.runpytest_subprocess(*args, "-m", "mlchaos").stdout.fnmatch_lines(
        ["10/11 tests collected*"]
    )
    pytester.runpytest_subprocess(*args, "-m", "not mlchaos").stdout.fnmatch_lines(
        ["1/11 tests collected*"]
    )


def test_a_bad_scenario_is_a_clear_collection_error(pytester: pytest.Pytester) -> None:
    bad = pytester.makefile(".yaml", s="version: 1\nname: s\nexperiments: [missing.yaml]\n")
    result = pytester.runpytest_subprocess("-p", "no:locust", "--mlchaos-scenario", str(bad))
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the session
    result.stdout.fnmatch_lines([f"*{bad}:3: experiments.0: no such file: *missing.yaml"])
    assert "Traceback" not in result.stdout.str()


def test_without_a_scenario_the_plugin_does_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest_subprocess("-p", "no:locust")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    assert "mlchaos reports" not in result.stdout.str()
