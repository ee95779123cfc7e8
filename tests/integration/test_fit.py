"""An experiment that names what its service lacks is bad input at its line, through every way
in: `mlchaos run`, `mlchaos gameday`, the pytest plugin, and `chaos run` on a compiled
experiment. Nothing starts first: no stack, no load, no fault."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

MISFIT = FIXTURES / "misfit"
SAID = (
    "bad-segment.yaml:4: fault.segment: the service file's versions.segment names no 'elderly' "
    "(it has young)"
)


def mlchaos(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchaos", *args],
        cwd=cwd, text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ("run", "tests/fixtures/misfit/bad-segment.yaml"),
        ("gameday", "tests/fixtures/misfit/scenario.yaml"),
    ],
    ids=["run", "gameday"],
)
def test_mlchaos_run_and_gameday_refuse_it_with_its_line(args: tuple[str, ...]) -> None:
    done = mlchaos(*args, "--service", str(MISFIT / "service.yaml"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"error: tests/fixtures/misfit/{SAID}"


def test_against_the_reference_stack_it_is_refused_before_the_stack_starts(
    tmp_path: Path,
) -> None:
    state = tmp_path / "stack"
    done = mlchaos("run", "tests/fixtures/misfit/bad-segment.yaml", "--state-dir", str(state))
    assert done.returncode == 2, done.stderr
    assert SAID in done.stderr and "Traceback" not in done.stderr
    assert not state.exists()  # nothing was started to find out


def test_the_pytest_plugin_refuses_it_at_collection(pytester: pytest.Pytester) -> None:
    for name in ("scenario.yaml", "bad-segment.yaml", "service.yaml"):
        shutil.copy(MISFIT / name, pytester.path / name)
    result = pytester.runpytest_subprocess(
        "-p", "no:locust", "--mlchaos-scenario", "scenario.yaml", "--mlchaos-service",
        "service.yaml",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error: nothing ran
    result.stdout.fnmatch_lines([f"*{SAID}*"])
    assert "Traceback" not in result.stdout.str()


def test_chaos_run_of_a_compiled_experiment_checks_the_files_again(tmp_path: Path) -> None:
    """Compiled while it fit; the service file changed since: `chaos run` stops before the
    steady state with the experiment's line, exit 2, as mlchaos itself would."""
    shutil.copy(MISFIT / "service.yaml", tmp_path / "service.yaml")
    text = (MISFIT / "bad-segment.yaml").read_text().replace("elderly", "young")
    (tmp_path / "segment.yaml").write_text(text)
    compiled = mlchaos(
        "compile", "segment.yaml", "--service", "service.yaml", "--out", "segment.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    service = (tmp_path / "service.yaml").read_text()
    (tmp_path / "service.yaml").write_text(
        service.replace("segment: {young: v3-segment-young}", "segment: {adult: v3-adult}")
    )
    chaos = Path(sys.executable).with_name("chaos")
    done = subprocess.run(
        [str(chaos), "--no-log-file", "run", "--rollback-strategy=always", "segment.json"],
        cwd=tmp_path, text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"{tmp_path}/segment.yaml:4: fault.segment: the service file's versions.segment names "
        "no 'young' (it has adult)"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "mlchaos-journal.jsonl").exists()  # nothing was run to journal


def test_compile_refuses_a_misfit_itself() -> None:
    done = mlchaos(
        "compile", "tests/fixtures/misfit/bad-segment.yaml", "--service",
        str(MISFIT / "service.yaml"),
    )  # fmt: skip
    assert done.returncode == 2 and SAID in done.stderr
