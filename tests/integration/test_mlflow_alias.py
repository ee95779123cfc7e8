"""Bad versions through a real MLflow tracking server (SQLite, from the example team's
virtualenv): the alias moves under a lease, the team's deploy step runs after each move, and
the detached lease keeper moves it back at the TTL when the runner was killed with `kill -9`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlchaos.errors import ObservationError, TargetError
from mlchaos.faults.keeper import KEEPER
from mlchaos.faults.leases import revert_all
from mlchaos.faults.targets import mlflow as target
from mlchaos.hooks import HookFailed
from mlchaos.journal import Journal, Lease
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.schema.service import Hook
from mlchaos.service import Service
from tests.conftest import ROOT, example_bin, free_ports, wait_until

pytestmark = pytest.mark.integration
MODEL = "fraud"


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server with versions 1, 2 and 3 of ``fraud``; champion -> 2."""
    state = tmp_path_factory.mktemp("mlflow")
    [port] = free_ports(1)
    log = (state / "mlflow.log").open("wb")
    server = subprocess.Popen(
        [str(example_bin("mlflow")), "server", "--backend-store-uri",
         f"sqlite:///{state}/mlflow.db", "--default-artifact-root", str(state / "artifacts"),
         "--no-serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health"), timeout=120, interval=0.5)
        api = f"{url}/api/2.0/mlflow"
        requests.post(f"{api}/registered-models/create", json={"name": MODEL}, timeout=10)
        for _ in range(3):  # a version's source must lie in a run's artifacts
            run = requests.post(f"{api}/runs/create", json={"experiment_id": "0"}, timeout=10)
            info = run.json()["run"]["info"]
            body = {"name": MODEL, "source": f"{info['artifact_uri']}/model",
                    "run_id": info["run_id"]}  # fmt: skip
            requests.post(f"{api}/model-versions/create", json=body, timeout=10).raise_for_status()
        yield url
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.fixture(autouse=True)
def no_keeper_left(tmp_path: Path) -> Iterator[None]:
    """A keeper whose deploy step keeps failing retries for an hour, as it should on staging;
    a test must not leave one behind."""
    yield
    subprocess.run(["pkill", "-f", f"mlchaos.faults.keeper {tmp_path}"], check=False)


@pytest.fixture
def aliases(mlflow_url: str) -> MlflowAliases:
    registry = MlflowAliases(mlflow_url)
    registry.point(MODEL, "champion", "2")
    return registry


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def service(url: str, deploy_log: Path, fail: bool = False) -> Service:
    """The service as a service file gives it; its deploy step notes each run in a file."""
    script = f"open({str(deploy_log)!r}, 'a').write('deployed\\n')" + (
        "; raise SystemExit('MLServer at 127.0.0.1:9 refused the load')" if fail else ""
    )
    return Service(
        model=MODEL, model_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9",
        registry_url=url, prometheus_url="http://127.0.0.1:9",
        alertmanager_url="http://127.0.0.1:9", pagerduty_url="https://127.0.0.1:9",
        pagerduty_service="fraud-oncall", traffic_query="up",
        deploy_hook=Hook(command=(sys.executable, "-c", script)),
        adapters={"registry": "mlflow"},
    )  # fmt: skip


def test_the_alias_api_reads_moves_and_refuses_clearly(aliases: MlflowAliases) -> None:
    assert aliases.version_of(MODEL, "champion") == "2"
    aliases.point(MODEL, "champion", "3")
    assert aliases.version_of(MODEL, "champion") == "3"
    assert aliases.has_version(MODEL, "3") and not aliases.has_version(MODEL, "99")
    with pytest.raises(TargetError, match=r"the MLflow registry refused: .*"):
        aliases.version_of(MODEL, "no-such-alias")
    with pytest.raises(ObservationError, match="unreachable"):
        MlflowAliases(f"http://127.0.0.1:{free_ports(1)[0]}", timeout_s=2).version_of(MODEL, "x")


def test_a_revert_moves_the_alias_back_deploys_and_stops_the_keeper(
    aliases: MlflowAliases, tmp_path: Path
) -> None:
    journal, deploys = Journal(tmp_path / "journal.jsonl"), tmp_path / "deploys"
    svc = service(aliases.url, deploys)
    lease_id = target.inject(journal, svc, "bad_version", MODEL, "3", ttl_s=60)
    assert aliases.version_of(MODEL, "champion") == "3"
    assert deploys.read_text() == "deployed\n"
    [audit] = revert_all(journal)
    assert (audit["action"], audit["actor"]) == ("revert", "mlchaos")
    assert aliases.version_of(MODEL, "champion") == "2"
    assert deploys.read_text() == "deployed\n" * 2
    lease_file = target.lease_dir(journal) / f"{lease_id}.json"
    wait_until(lambda: not _keeper_running(lease_file), timeout=5)


def test_the_keeper_ends_the_lease_after_kill_9_of_the_runner(
    aliases: MlflowAliases, tmp_path: Path
) -> None:
    deploys = tmp_path / "deploys"
    runner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            sys.path.insert(0, {str(ROOT)!r})
            from tests.integration.test_mlflow_alias import service
            from mlchaos.faults.targets import mlflow
            from mlchaos.journal import Journal
            journal = Journal(Path({str(tmp_path / 'journal.jsonl')!r}))
            svc = service({aliases.url!r}, Path({str(deploys)!r}))
            mlflow.inject(journal, svc, "bad_version", "fraud", "3", ttl_s=4)
            print("injected", flush=True)
            time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert runner.stdout is not None and runner.stdout.readline().strip() == "injected"
    killed = time.monotonic()
    runner.kill()  # SIGKILL: no revert, no finally
    runner.wait()
    assert aliases.version_of(MODEL, "champion") == "3"
    wait_until(lambda: aliases.version_of(MODEL, "champion") == "2", timeout=4 + 5)
    back_after = time.monotonic() - killed
    [lease] = Journal(tmp_path / "journal.jsonl").of(Lease)
    marker = Path(lease.model_extra["lease_file"]).with_suffix(".done")
    wait_until(marker.exists, timeout=10)  # written after the alias moves back and the deploy
    done = json.loads(marker.read_text())
    assert (done["action"], done["actor"], done["to_version"]) == ("expire", KEEPER, "2")
    assert deploys.read_text() == "deployed\n" * 2  # the keeper deployed what champion names
    assert back_after < 4 + 3
    # `mlchaos recover` after the keeper: nothing left to do, and it says what the keeper did
    [audit] = revert_all(Journal(tmp_path / "journal.jsonl"))
    assert audit["actor"] == KEEPER


def test_the_keeper_ends_the_lease_even_when_the_run_folder_is_deleted(
    aliases: MlflowAliases, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    journal = Journal(run / "journal.jsonl")
    target.inject(journal, service(aliases.url, tmp_path / "deploys"), "bad_version", MODEL,
                  "3", ttl_s=2)  # fmt: skip
    shutil.rmtree(run)  # a CI job's workspace wiped while the fault was in
    wait_until(lambda: aliases.version_of(MODEL, "champion") == "2", timeout=2 + 5)
    wait_until(lambda: (tmp_path / "deploys").read_text() == "deployed\n" * 2, timeout=10)


def test_a_broken_deploy_step_fails_the_injection_and_the_alias_goes_back(
    aliases: MlflowAliases, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    with pytest.raises(HookFailed, match=r"the deploy step: python.* exited 1: MLServer at"):
        target.inject(journal, service(aliases.url, tmp_path / "d", fail=True), "bad_version",
                      MODEL, "3", ttl_s=60)  # fmt: skip
    with pytest.raises(HookFailed):  # the revert deploys too, and says it could not
        revert_all(journal)
    assert aliases.version_of(MODEL, "champion") == "2"  # the alias went back first


def test_nothing_moves_when_the_version_does_not_exist(
    aliases: MlflowAliases, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    with pytest.raises(TargetError, match="has no version 99 of fraud"):
        target.inject(journal, service(aliases.url, tmp_path / "d"), "bad_version", MODEL, "99", 60)
    assert aliases.version_of(MODEL, "champion") == "2"
    assert not target.lease_dir(journal).exists()


def _keeper_running(lease_file: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", f"mlchaos.faults.keeper {lease_file}"],
                           capture_output=True)  # fmt: skip
    return found.returncode == 0
