"""A service file that declares production is refused before anything is touched, unless the
run says `--allow-production`: game days inject real faults (AWS FIS and Litmus guard the
same way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlchaos.cli.execute import guard_production
from mlchaos.errors import InputError
from mlchaos.loader import load_service
from tests.conftest import FIXTURES, ROOT

pytestmark = pytest.mark.integration
SERVICE = FIXTURES / "misfit" / "service.yaml"
EXPERIMENT = FIXTURES / "experiments" / "good.yaml"


def declared(tmp_path: Path, environment: str) -> Path:
    path = tmp_path / "service.yaml"
    path.write_text(SERVICE.read_text() + f"environment: {environment}\n")
    return path


def test_a_production_service_is_refused_with_the_reason_and_exit_2(tmp_path: Path) -> None:
    path = declared(tmp_path, "production")
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "run", str(EXPERIMENT), "--service", str(path),
         "--report-dir", str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "environment: production: refusing to inject faults" in done.stderr
    assert "--allow-production" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists()  # refused before any run began


def test_the_flag_or_a_staging_environment_lets_it_through(tmp_path: Path) -> None:
    production = load_service(declared(tmp_path, "prod"))
    with pytest.raises(InputError, match="environment: prod: refusing"):
        guard_production(production, "service.yaml", allowed=False)
    guard_production(production, "service.yaml", allowed=True)
    guard_production(load_service(declared(tmp_path, "staging")), "service.yaml", allowed=False)
    assert load_service(SERVICE).environment == "staging"  # the default
