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
    # --no-compile: what a command imports is compiled when it runs (a third of pip's time)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
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
    assert done.stderr.startswith("ok: 11 file(s) valid")
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


def test_the_pagerduty_receiver_runs_from_the_core_install(
    core_only: Path, tmp_path: Path
) -> None:
    """A team's staging pages its own receiver without the reference stack's extra."""
    import requests

    from tests.conftest import free_ports, wait_until

    key = tmp_path / "routing-key"
    key.write_text("r" * 32)
    [port] = free_ports(1)
    state = tmp_path / "receiver"
    process = subprocess.Popen(
        [str(core_only / "mlchaos"), "receiver", "--service", "oncall", "--routing-key-file",
         str(key), "--port", str(port), "--state-dir", str(state)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url, cert = f"https://127.0.0.1:{port}", state / "tls" / "cert.pem"

    def up() -> bool:
        try:
            return requests.get(f"{url}/health", verify=str(cert), timeout=2).ok
        except (requests.RequestException, OSError):
            return False

    try:
        wait_until(up, 60, 0.2)
        event = {"routing_key": "r" * 32, "event_action": "trigger",
                 "payload": {"summary": "s", "source": "x", "severity": "critical"}}  # fmt: skip
        sent = requests.post(f"{url}/v2/enqueue", json=event, verify=str(cert), timeout=5)
        assert sent.status_code == 202, sent.text
        listed = requests.get(f"{url}/incidents", verify=str(cert), timeout=5).json()
        assert [i["service"] for i in listed["incidents"]] == ["oncall"]
    finally:
        process.terminate()
        process.wait(timeout=30)
