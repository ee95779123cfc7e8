"""The core stands alone: installed *without* the ``reference`` extra, in a fresh venv, mlchaos
validates files and prints rules, and `mlchaos up` names the extra it needs.

This installs mlchaos from this checkout with pip (dependencies from the package index, as a
user's `pip install mlchaos` would), so it takes about a minute.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlchaos.reference import EXTRA_MODULES
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def core_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("core-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(ROOT)], check=True, timeout=900, capture_output=True)
    return venv / "bin"


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "mlchaos"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_the_extra_is_not_installed(core_only: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = subprocess.run(
        [str(core_only / "python"), "-c", probe, *EXTRA_MODULES],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert found.stdout.strip() == "[]"


def test_validate_works_without_the_extra(core_only: Path) -> None:
    done = run(core_only, "validate", *map(str, sorted(ROOT.glob("experiments/*.yaml"))),
               "scenarios/nightly.yaml")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.startswith("ok: 9 file(s) valid")
    bad = run(core_only, "validate", "--service", "tests/fixtures/misfit/service.yaml",
              "tests/fixtures/misfit/bad-variant.yaml")  # fmt: skip
    assert bad.returncode == 2
    assert "bad-variant.yaml:4: fault.variant: the service file's versions.bad" in bad.stdout


def test_rules_work_without_the_extra(core_only: Path) -> None:
    done = run(core_only, "rules", "--model", "fraud")
    assert done.returncode == 0, done.stderr
    assert "- alert: ModelHighErrorRate" in done.stdout and 'model="fraud"' in done.stdout


def test_the_reference_stack_names_the_extra_it_needs(core_only: Path, tmp_path: Path) -> None:
    done = run(core_only, "up", "--state-dir", str(tmp_path / "stack"))
    assert done.returncode == 3
    assert "pip install 'mlchaos[reference]'" in done.stderr
    assert "Traceback" not in done.stderr
