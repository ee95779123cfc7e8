"""`mlchaos validate` through its real entry point: every problem, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def mlchaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchaos", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_valid_files_exit_zero() -> None:
    done = mlchaos("validate", "experiments/bad-version.yaml", "scenarios/nightly.yaml")
    assert done.returncode == 0, done.stderr
    assert "ok: 2 file(s) valid" in done.stderr


def test_every_problem_of_every_file_is_printed_and_exit_is_2() -> None:
    done = mlchaos(
        "validate", "tests/fixtures/bad/many-errors.yaml", "tests/fixtures/bad/unknown-field.yaml"
    )
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert len(lines) == 5
    assert lines[-1] == (
        "tests/fixtures/bad/unknown-field.yaml:6: fault.varient: unknown field; "
        "did you mean 'variant'?"
    )
    assert "Traceback" not in done.stderr


def test_missing_file_is_a_clear_error() -> None:
    done = mlchaos("validate", "nope.yaml")
    assert done.returncode == 2
    assert done.stdout.strip() == "nope.yaml:0: (file): No such file or directory"
