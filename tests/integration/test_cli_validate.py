"""`mlchaos validate` through its real entry point: every problem, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    assert len(lines) == 4  # many-errors.yaml's three, unknown-field.yaml's one
    assert lines[-1] == (
        "tests/fixtures/bad/unknown-field.yaml:6: fault.varient: unknown field; "
        "did you mean 'variant'?"
    )
    assert "Traceback" not in done.stderr


def test_missing_file_is_a_clear_error() -> None:
    done = mlchaos("validate", "nope.yaml")
    assert done.returncode == 2
    assert done.stdout.strip() == "nope.yaml:0: (file): No such file or directory"


def test_hostile_files_get_one_line_each_and_exit_2(tmp_path: Path) -> None:
    """Through the real entry point: a bomb, a pipe, binary, deep nesting; no traceback."""
    from tests.unit.test_hostile_input import alias_bomb

    (tmp_path / "bomb.yaml").write_text(alias_bomb(9))
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000)
    (tmp_path / "service.yaml").write_text(
        "version: 1\nname: s\nmodel: m\nendpoints:\n  gateway: 'http://[::1'\n"
        "  prometheus: http://127.0.0.1:9090\n  alertmanager: http://127.0.0.1:9093\n"
        "pagerduty: {service: oncall}\ntraffic_query: q\n"
    )
    names = ["bomb", "pipe", "binary", "deep", "service"]
    done = mlchaos("validate", *(str(tmp_path / f"{n}.yaml") for n in names))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [str(tmp_path / f"{n}.yaml") for n in names]
    assert lines[-1].endswith(
        "endpoints.gateway: 'http://[::1' is not a valid URL: Invalid IPv6 URL"
    )
