"""Bad versions through a real MLflow tracking server (SQLite, from the example team's
virtualenv): the alias moves under a lease that MLflow itself carries, the team's deploy step
runs after each move, the fault starts when the version first answers at the real gateway, and
the detached lease keeper moves the alias back at the TTL when the runner was killed with
`kill -9`; with the keeper killed too and the run folder deleted, `mlchaos recover --service`
finds the lease in MLflow and puts the alias back. A poisoned training snapshot meets a
retrain step and its gate, and its lease ends the same ways."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from mlchaos.errors import ObservationError, TargetError
from mlchaos.faults import bad_version, poisoned_data
from mlchaos.faults.leases import revert_all
from mlchaos.faults.targets import mlflow as target
from mlchaos.faults.targets import training
from mlchaos.faults.targets.mlflow_build import (
    BUILD_TAG,
    STRAY_AFTER_S,
    make_copy,
    remove_copy,
    strays,
)
from mlchaos.faults.targets.training import POISONED_TAG
from mlchaos.hooks import HookFailed
from mlchaos.journal import EventRecord, Journal, Lease
from mlchaos.observe import approval
from mlchaos.observe.mlflow import LEASE_TAG, MlflowAliases
from mlchaos.schema.experiment import BadVersionFault, PoisonedDataFault
from mlchaos.schema.service import Hook, Rollout, Training
from mlchaos.service import Service
from mlchaos.vocabulary import KEEPER
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


class Served(ThreadingHTTPServer):
    """A model server that answers every inference with the version its deploy step last
    wrote into ``version_file``, as MLServer puts the version it serves in each answer."""

    daemon_threads = True

    def __init__(self, version_file: Path) -> None:
        super().__init__(("127.0.0.1", 0), Answer)
        self.version_file = version_file

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Answer(BaseHTTPRequestHandler):
    server: Served
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        version = self.server.version_file.read_text().strip()
        body = json.dumps({"model_name": MODEL, "model_version": version, "outputs": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Staging:
    """MLflow, a model server behind the real chaos gateway, and traffic through it."""

    mlflow: str
    gateway: str
    version_file: Path


@pytest.fixture(scope="module")
def staging(mlflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staging]:
    state = tmp_path_factory.mktemp("staging")
    version_file = state / "served"
    version_file.write_text("2")
    model = Served(version_file)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    [port] = free_ports(1)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gateway", "--upstream", model.url, "--model", MODEL,
         "--port", str(port), "--state-dir", str(state)],
        cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()

    def traffic() -> None:  # clients, 20 a second
        with requests.Session() as session:
            while not stop.wait(0.05):
                with contextlib.suppress(requests.RequestException):
                    session.post(f"{url}/v2/models/{MODEL}/infer", json={"inputs": []}, timeout=2)

    try:
        wait_until(lambda: _answers(f"{url}/health"), timeout=30)
        threading.Thread(target=traffic, daemon=True).start()
        yield Staging(mlflow_url, url, version_file)
    finally:
        stop.set()
        gateway.terminate()
        gateway.wait(timeout=10)
        model.shutdown()


@pytest.fixture(autouse=True)
def no_keeper_left(tmp_path: Path) -> Iterator[None]:
    """A keeper whose deploy step keeps failing retries until done, as it should on staging;
    a test must not leave one behind."""
    yield
    subprocess.run(["pkill", "-f", f"mlchaos.faults.keeper {tmp_path}"], check=False)
    subprocess.run(["pkill", "-f", f"mlchaos.faults.training_keeper {tmp_path}"], check=False)


@pytest.fixture
def aliases(staging: Staging) -> Iterator[MlflowAliases]:
    registry = MlflowAliases(staging.mlflow)
    registry.delete_tag(MODEL, LEASE_TAG)
    registry.point(MODEL, "champion", "2")
    staging.version_file.write_text("2")
    yield registry
    registry.delete_tag(MODEL, LEASE_TAG)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def deploy_step(staging: Staging, deploy_log: Path, fail: bool = False) -> Hook:
    """The team's deploy step: serve what champion names, and note each run in a file."""
    script = textwrap.dedent(f"""
        import json, urllib.request
        url = {staging.mlflow!r} + "/api/2.0/mlflow/registered-models/alias"
        url += "?name=fraud&alias=champion"
        with urllib.request.urlopen(url) as answer:
            version = json.load(answer)["model_version"]["version"]
        open({str(deploy_log)!r}, "a").write("deployed\\n")
        {"raise SystemExit('MLServer at 127.0.0.1:9 refused the load')" if fail else ""}
        open({str(staging.version_file)!r}, "w").write(version)
    """)  # fmt: skip
    return Hook(command=(sys.executable, "-c", script))


def service(staging: Staging, deploy_log: Path, fail: bool = False) -> Service:
    """The service as a service file gives it."""
    return Service(
        model=MODEL, model_url=staging.gateway, gateway_url=staging.gateway,
        registry_url=staging.mlflow, prometheus_url="http://127.0.0.1:9",
        alertmanager_url="http://127.0.0.1:9", pagerduty_url="https://127.0.0.1:9",
        pagerduty_service="fraud-oncall", traffic_query="up",
        deploy_hook=deploy_step(staging, deploy_log, fail), hook_dir=deploy_log.parent,
        adapters={"registry": "mlflow"},
    )  # fmt: skip


def test_the_alias_api_reads_moves_tags_and_refuses_clearly(aliases: MlflowAliases) -> None:
    assert aliases.version_of(MODEL, "champion") == "2"
    aliases.point(MODEL, "champion", "3")
    assert aliases.version_of(MODEL, "champion") == "3"
    assert aliases.has_version(MODEL, "3") and not aliases.has_version(MODEL, "99")
    aliases.set_tag(MODEL, LEASE_TAG, json.dumps({"id": "abc"}))
    assert aliases.lease(MODEL) == {"id": "abc"}
    aliases.delete_tag(MODEL, LEASE_TAG)
    aliases.delete_tag(MODEL, LEASE_TAG)  # gone already: no error
    assert aliases.lease(MODEL) is None
    with pytest.raises(TargetError, match=r"the MLflow registry refused: .*"):
        aliases.version_of(MODEL, "no-such-alias")
    with pytest.raises(ObservationError, match="unreachable"):
        MlflowAliases(f"http://127.0.0.1:{free_ports(1)[0]}", timeout_s=2).version_of(MODEL, "x")


def test_the_fault_starts_at_the_first_answer_and_the_lease_is_in_mlflow(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    journal, deploys = Journal(tmp_path / "journal.jsonl"), tmp_path / "deploys"
    lease_id = target.inject(journal, service(staging, deploys), "bad_version", MODEL, "3", 60)
    carried = aliases.lease(MODEL)
    assert carried is not None
    assert (carried["id"], carried["version"], carried["replaced"]) == (lease_id, "3", "2")
    assert target.keeper_alive(carried)
    [injected] = [r for r in journal.of(EventRecord) if r.event == "injected"]
    assert injected.source == "gateway answers (the first by version 3)"
    moved = injected.detail["alias_moved_at"]
    assert moved < injected.time  # served after the alias moved and the deploy step ran
    assert injected.detail["deploy_s"] > 0
    [audit] = revert_all(journal)
    assert (audit["action"], audit["actor"], audit["to_version"]) == ("revert", "mlchaos", "2")
    assert aliases.version_of(MODEL, "champion") == "2" and aliases.lease(MODEL) is None
    assert deploys.read_text() == "deployed\n" * 2
    lease_file = target.lease_dir(journal) / f"{lease_id}.json"
    wait_until(lambda: not _keeper_running(lease_file), timeout=5)


def test_the_revert_puts_back_what_served_before_whatever_the_team_moved(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    """The team's controller moves champion to `previous` (version 1); the revert must leave
    staging as found, on version 2, and say what it found."""
    journal, deploys = Journal(tmp_path / "journal.jsonl"), tmp_path / "deploys"
    svc = service(staging, deploys)
    target.inject(journal, svc, "bad_version", MODEL, "3", 60)
    aliases.point(MODEL, "champion", "1")  # the team's rollback, to `previous`
    [audit] = revert_all(journal)
    assert aliases.version_of(MODEL, "champion") == "2"
    assert (audit["action"], audit["from_version"], audit["to_version"]) == ("revert", "1", "2")
    assert "named 1, not the fault's 3" in audit["reason"]
    wait_until(lambda: staging.version_file.read_text() == "2", timeout=5)


def test_the_keeper_ends_the_lease_after_kill_9_of_the_runner(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    runner = _runner(staging, tmp_path, ttl_s=4)
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
    assert (tmp_path / "deploys").read_text() == "deployed\n" * 2
    assert aliases.lease(MODEL) is None
    assert back_after < 4 + 3
    # `mlchaos recover` after the keeper: nothing left to do, and it says what the keeper did
    [audit] = revert_all(Journal(tmp_path / "journal.jsonl"))
    assert audit["actor"] == KEEPER


def test_with_runner_and_keeper_killed_and_the_folder_gone_recover_finds_it_in_mlflow(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    runner = _runner(staging, tmp_path, ttl_s=600, run="run")
    runner.kill()
    runner.wait()
    keeper = subprocess.run(["pkill", "-9", "-f", f"mlchaos.faults.keeper {tmp_path}"])
    assert keeper.returncode == 0
    shutil.rmtree(tmp_path / "run")  # the run folder: journal, lease file, keeper's log
    assert aliases.version_of(MODEL, "champion") == "3"
    service_file = _service_file(staging, tmp_path)
    recovered = _mlchaos(
        "recover", "--service", str(service_file), "--state-dir", str(tmp_path / "state"),
        "--report-dir", str(tmp_path / "reports"),
    )
    assert recovered.returncode == 0, recovered.stderr
    said = recovered.stdout + recovered.stderr
    assert "MLflow carries mlchaos lease" in said and "its keeper is gone" in said
    assert "ended it: fraud@champion back to 2, and deployed" in said
    assert "recovered: 1 fault(s) reverted now" in said
    assert aliases.version_of(MODEL, "champion") == "2" and aliases.lease(MODEL) is None
    wait_until(lambda: staging.version_file.read_text() == "2", timeout=5)


def test_mlchaos_registry_works_through_the_service_files_adapter(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    """The advice mlchaos gives (`mlchaos registry --service FILE promote 2`) works on MLflow:
    the alias moves and the team's deploy step runs."""
    aliases.point(MODEL, "champion", "1")
    service_file = _service_file(staging, tmp_path)
    promoted = _mlchaos("registry", "promote", "2", "--service", str(service_file))
    assert promoted.returncode == 0, promoted.stderr
    assert '"from_version": "1", "to_version": "2"' in promoted.stdout
    assert aliases.version_of(MODEL, "champion") == "2"
    assert (tmp_path / "deploys").read_text() == "deployed\n"
    wait_until(lambda: staging.version_file.read_text() == "2", timeout=5)
    shown = _mlchaos("registry", "show", "--service", str(service_file))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("production 2") and "no mlchaos lease" in shown.stdout
    refused = _mlchaos("registry", "rollback", "--service", str(service_file))
    assert refused.returncode == 2 and "keeps no previous version" in refused.stderr


def _service_file(staging: Staging, tmp_path: Path) -> Path:
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "name": "fraud-staging", "model": MODEL,
        "endpoints": {"gateway": staging.gateway, "prometheus": "http://127.0.0.1:9",
                      "alertmanager": "http://127.0.0.1:9", "registry": staging.mlflow},
        "adapters": {"registry": "mlflow"}, "traffic_query": "up",
        "deploy": {"command": list(deploy_step(staging, tmp_path / "deploys").command or ())},
    }))  # fmt: skip
    return path


def _mlchaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchaos", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_recover_asks_a_live_keeper_to_end_it_and_never_deploys_twice(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    runner = _runner(staging, tmp_path, ttl_s=600)
    runner.kill()
    runner.wait()
    deploys = tmp_path / "deploys"
    ended = target.end_orphan(staging.mlflow, MODEL, deploy_step(staging, deploys), "recover")
    assert ended is not None and ended["actor"] == "mlchaos lease keeper"
    assert aliases.version_of(MODEL, "champion") == "2" and aliases.lease(MODEL) is None
    assert deploys.read_text() == "deployed\n" * 2  # the injection's and the keeper's only


def test_a_deleted_run_folder_never_makes_two_parties_undo(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    """The runner holds the lease file open from the injection: with its folder deleted, its
    revert still takes the same lock the keeper takes, and the keeper then finds it done."""
    journal, deploys = Journal(tmp_path / "journal.jsonl"), tmp_path / "deploys"
    target.inject(journal, service(staging, deploys), "bad_version", MODEL, "3", ttl_s=3)
    shutil.rmtree(target.lease_dir(journal))  # the lease files wiped while the fault was in
    [audit] = revert_all(journal)
    assert (audit["action"], audit["to_version"]) == ("revert", "2")
    time.sleep(3 + 2)  # past the keeper's expiry: it must find the lease ended, not undo again
    assert deploys.read_text() == "deployed\n" * 2
    assert aliases.version_of(MODEL, "champion") == "2"


def test_the_keeper_ends_the_lease_even_when_the_run_folder_is_deleted(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    journal = Journal(run / "journal.jsonl")
    lease_id = target.inject(journal, service(staging, tmp_path / "deploys"), "bad_version",
                             MODEL, "3", ttl_s=2)  # fmt: skip
    target._HELD.pop(str(target.lease_dir(journal) / f"{lease_id}.json")).close()  # runner gone
    shutil.rmtree(run)
    wait_until(lambda: aliases.version_of(MODEL, "champion") == "2", timeout=2 + 5)
    wait_until(lambda: (tmp_path / "deploys").read_text() == "deployed\n" * 2, timeout=10)
    # the tag goes last, once the alias is back and deployed: waited for, not assumed (CI#4
    # beside a busy core read it between the deploy and the delete)
    wait_until(lambda: aliases.lease(MODEL) is None, timeout=10)


def test_a_broken_deploy_step_fails_the_injection_and_the_alias_goes_back(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    with pytest.raises(HookFailed, match=r"the deploy step: python.* exited 1: MLServer at"):
        target.inject(journal, service(staging, tmp_path / "d", fail=True), "bad_version",
                      MODEL, "3", ttl_s=60)  # fmt: skip
    with pytest.raises(HookFailed):  # the revert deploys too, and says it could not
        revert_all(journal)
    assert aliases.version_of(MODEL, "champion") == "2"  # the alias went back first
    assert aliases.lease(MODEL) is not None  # not ended: the keeper retries until it is


def test_nothing_moves_when_the_version_does_not_exist(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    with pytest.raises(TargetError, match="has no version 99 of fraud"):
        target.inject(journal, service(staging, tmp_path / "d"), "bad_version", MODEL, "99", 60)
    assert aliases.version_of(MODEL, "champion") == "2"
    assert not target.lease_dir(journal).exists()


def _runner(
    staging: Staging, tmp_path: Path, ttl_s: float, run: str = ".", build: bool = False
) -> subprocess.Popen[str]:
    """A runner in its own process that injects version 3 (``build``: a slow copy of the
    champion) and waits, to be killed."""
    inject = (f"bad_version.FAULT.inject(journal, svc, slow_build('{ttl_s}s'))" if build
              else f'mlflow.inject(journal, svc, "bad_version", "fraud", "3", ttl_s={ttl_s})')
    runner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            sys.path.insert(0, {str(ROOT)!r})
            from tests.integration.test_mlflow_alias import Staging, service, slow_build
            from mlchaos.faults import bad_version
            from mlchaos.faults.targets import mlflow
            from mlchaos.journal import Journal
            staging = Staging(
                {staging.mlflow!r}, {staging.gateway!r}, Path({str(staging.version_file)!r})
            )
            journal = Journal(Path({str(tmp_path / run / 'journal.jsonl')!r}))
            svc = service(staging, Path({str(tmp_path / 'deploys')!r}))
            {inject}
            print("injected", flush=True)
            time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert runner.stdout is not None and runner.stdout.readline().strip() == "injected"
    return runner


def _keeper_running(lease_file: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", f"mlchaos.faults.keeper {lease_file}"],
                           capture_output=True)  # fmt: skip
    return found.returncode == 0


def canary_service(staging: Staging, tmp_path: Path) -> Service:
    """The service with a rollout: its start step serves whatever ``candidate`` names (the
    whole of a one-server canary), its abort step notes that it ran."""
    start = textwrap.dedent(f"""
        import json, urllib.request
        url = {staging.mlflow!r} + "/api/2.0/mlflow/registered-models/alias"
        with urllib.request.urlopen(url + "?name=fraud&alias=candidate") as answer:
            version = json.load(answer)["model_version"]["version"]
        open({str(staging.version_file)!r}, "w").write(version)
    """)  # fmt: skip
    abort = f"open({str(tmp_path / 'aborts')!r}, 'a').write('aborted\\n')"
    rollout = {"start": {"command": [sys.executable, "-c", start]},
               "abort": {"command": [sys.executable, "-c", abort]}}  # fmt: skip
    return service(staging, tmp_path / "deploys").model_copy(
        update={"rollout": Rollout.model_validate(rollout)}
    )


def start_canary(aliases: MlflowAliases, staging: Staging, tmp_path: Path, ttl_s: float) -> Journal:
    """Version 3 made the candidate, its rollout started; ``previous`` names 1 before."""
    aliases.point(MODEL, "previous", "1")
    journal = Journal(tmp_path / "journal.jsonl")
    svc = canary_service(staging, tmp_path)
    target.inject_candidate(journal, svc, "bad_version", MODEL, "3", ttl_s)
    return journal


def _promote(aliases: MlflowAliases, version: str) -> None:
    """What the team's rollout does at its last step."""
    aliases.point(MODEL, "previous", aliases.version_of(MODEL, "champion"))
    aliases.point(MODEL, "champion", version)
    aliases.delete_alias(MODEL, "candidate")


def test_a_canary_lease_aborts_the_rollout_and_puts_every_alias_back_after_a_promotion(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    journal = start_canary(aliases, staging, tmp_path, ttl_s=60)
    assert aliases.named(MODEL, "candidate") == "3"
    [injected] = [r for r in journal.of(EventRecord) if r.event == "injected"]
    assert injected.source == "gateway answers (the first by candidate 3)"
    assert injected.detail["rollout"] is True
    _promote(aliases, "3")  # the team's rollout let it through
    [audit] = revert_all(journal)
    assert (tmp_path / "aborts").read_text() == "aborted\n"
    assert aliases.aliases(MODEL) == {"champion": "2", "previous": "1"}, audit
    assert "fraud@champion back to 2" in audit["reason"]
    wait_until(lambda: staging.version_file.read_text() == "2", timeout=5)


def test_a_canary_lease_left_alone_is_ended_by_its_keeper_at_the_ttl(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    journal = start_canary(aliases, staging, tmp_path, ttl_s=3)
    wait_until(lambda: aliases.lease(MODEL) is None, timeout=30)
    assert (tmp_path / "aborts").read_text() == "aborted\n"
    assert aliases.aliases(MODEL) == {"champion": "2", "previous": "1"}
    [audit] = revert_all(journal)  # the runner comes back: the keeper did it already
    assert audit["actor"] == KEEPER
    wait_until(lambda: staging.version_file.read_text() == "2", timeout=5)


def test_a_rollout_that_will_not_start_injects_nothing_and_puts_the_candidate_back(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    svc = canary_service(staging, tmp_path)
    assert svc.rollout is not None
    refusing = Hook(command=(sys.executable, "-c", "raise SystemExit(3)"))
    broken = svc.rollout.model_copy(update={"start": refusing})
    journal = Journal(tmp_path / "journal.jsonl")
    with pytest.raises(HookFailed, match=r"the rollout's start step: .* exited 3"):
        target.inject_candidate(journal, svc.model_copy(update={"rollout": broken}),
                                "bad_version", MODEL, "3", 60)  # fmt: skip
    assert not [r for r in journal.of(EventRecord) if r.event == "injected"]
    [audit] = revert_all(journal)  # what the engine does after a failed injection
    assert aliases.named(MODEL, "candidate") is None and aliases.lease(MODEL) is None
    assert (tmp_path / "aborts").read_text() == "aborted\n" and audit["actor"] == "mlchaos"


CHAMPION_PICKLE = """
import pickle, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
sys.stdout.buffer.write(pickle.dumps(model))
"""
PICKLED: list[bytes] = []
LOAD_AND_TIME = """
import sys, time, joblib, numpy as np
model = joblib.load(sys.argv[1])
model.predict(np.array([[0.0]]))  # the champion is unpickled at the first call
started = time.perf_counter()
answer = model.predict(np.array([[0.0], [3.0]]))
print(list(answer), round(time.perf_counter() - started, 3))
"""


def champion_files(aliases: MlflowAliases) -> Path:
    """Version 2's artifacts, as a team's training pipeline logged them: one pickled model
    (scikit-learn's, written by the team's own Python), beside its MLmodel file."""
    folder = Path(aliases.download_uri(MODEL, "2").removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    if not PICKLED:  # once per module: the team's Python takes seconds to import scikit-learn
        PICKLED.append(subprocess.run([str(example_bin("python")), "-c", CHAMPION_PICKLE],
                                      capture_output=True, check=True).stdout)  # fmt: skip
    (folder / "model.pkl").write_bytes(PICKLED[0])
    (folder / "MLmodel").write_text("flavors: {sklearn: {pickled_model: model.pkl}}\n")
    return folder


def slow_build(ttl: str = "60s") -> BadVersionFault:
    return BadVersionFault.model_validate(
        {"type": "bad_version", "variant": "slow", "delay": "0.2s", "ttl": ttl})


def test_a_slow_build_of_the_champion_is_registered_served_and_deleted_by_the_revert(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    """On MLflow only a registered version can be promoted: mlchaos registers a slow copy of
    the champion from a run of its own, the team's deploy step serves it, and the revert
    leaves no version, run or file of it behind."""
    champion_files(aliases)
    journal, svc = Journal(tmp_path / "journal.jsonl"), service(staging, tmp_path / "deploys")
    assert bad_version.builds(slow_build(), svc)
    bad_version.FAULT.inject(journal, svc, slow_build())
    carried = aliases.lease(MODEL)
    assert carried is not None and carried["built"]["of"] == "2"
    copy, run_id = carried["built"]["version"], carried["built"]["run_id"]
    assert aliases.version_of(MODEL, "champion") == copy == staging.version_file.read_text()
    assert aliases.version_tags(MODEL, copy) == {BUILD_TAG: "slow copy of version 2"}
    folder = Path(carried["built"]["folder"])
    assert str(folder).startswith(str(Path(aliases.download_uri(MODEL, copy)).parent.parent))
    # The copy loads where the team's server loads models (its Python, joblib, no mlchaos),
    # answers as the champion does, and waits its delay at every call.
    timed = subprocess.run([str(example_bin("python")), "-c", LOAD_AND_TIME,
                            str(folder / "model.pkl")], capture_output=True, text=True,
                           check=True, cwd=tmp_path)  # fmt: skip
    answer, took = timed.stdout.rsplit(" ", 1)
    assert answer.startswith("[np.int64(0), np.int64(1)]") and float(took) >= 0.2, timed.stdout
    [audit] = revert_all(journal)
    assert "the slow copy: version" in audit["reason"] and "its files removed" in audit["reason"]
    assert aliases.version_of(MODEL, "champion") == "2" and aliases.lease(MODEL) is None
    assert not aliases.has_version(MODEL, copy) and not folder.exists()
    run = requests.get(f"{staging.mlflow}/api/2.0/mlflow/runs/get", params={"run_id": run_id},
                       timeout=10).json()["run"]  # fmt: skip
    assert run["info"]["lifecycle_stage"] == "deleted"


def test_a_built_copy_left_by_kill_9_of_runner_and_keeper_is_deleted_by_recover(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    champion_files(aliases)
    journal, svc = Journal(tmp_path / "run" / "journal.jsonl"), service(staging, tmp_path / "d")
    bad_version.FAULT.inject(journal, svc, slow_build("10m"))
    carried = aliases.lease(MODEL)
    assert carried is not None
    killed = subprocess.run(["pkill", "-9", "-f", f"mlchaos.faults.keeper {tmp_path}"])
    assert killed.returncode == 0
    shutil.rmtree(tmp_path / "run")  # nothing is left but what MLflow carries
    ended = target.end_orphan(staging.mlflow, MODEL, svc.deploy_hook, "mlchaos recover",
                              hook_dir=tmp_path)  # fmt: skip
    assert ended is not None and "version" in ended["reason"] and "deleted" in ended["reason"]
    assert aliases.version_of(MODEL, "champion") == "2" and aliases.lease(MODEL) is None
    assert not aliases.has_version(MODEL, carried["built"]["version"])
    assert not Path(carried["built"]["folder"]).exists()


def test_a_copy_whose_lease_cannot_be_taken_is_deleted_at_once(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    """Another run holds the model's lease: the copy, already registered, must not stay."""
    champion_files(aliases)
    aliases.set_tag(MODEL, LEASE_TAG, json.dumps({"id": "someone-else"}))
    before = requests.get(f"{staging.mlflow}/api/2.0/mlflow/registered-models/get",
                          params={"name": MODEL}, timeout=10).json()  # fmt: skip
    journal, svc = Journal(tmp_path / "journal.jsonl"), service(staging, tmp_path / "deploys")
    with pytest.raises(TargetError, match="already carries mlchaos lease someone-else"):
        bad_version.FAULT.inject(journal, svc, slow_build())
    after = requests.get(f"{staging.mlflow}/api/2.0/mlflow/registered-models/get",
                         params={"name": MODEL}, timeout=10).json()  # fmt: skip
    latest = {v["version"] for v in after["registered_model"].get("latest_versions", [])}
    assert latest == {v["version"] for v in before["registered_model"].get("latest_versions", [])}
    assert aliases.version_of(MODEL, "champion") == "2"


def test_the_keeper_deletes_a_built_copy_at_the_ttl_after_kill_9_of_the_runner(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    champion_files(aliases)
    runner = _runner(staging, tmp_path, ttl_s=4, build=True)
    carried = aliases.lease(MODEL)
    assert carried is not None
    runner.kill()  # SIGKILL: no revert, no finally
    runner.wait()
    copy = carried["built"]["version"]
    assert aliases.version_of(MODEL, "champion") == copy
    wait_until(lambda: aliases.lease(MODEL) is None, timeout=4 + 15)
    assert aliases.version_of(MODEL, "champion") == "2"
    assert not aliases.has_version(MODEL, copy)
    assert not Path(carried["built"]["folder"]).exists()


def test_a_build_no_lease_names_is_a_stray_recover_deletes_once_it_is_old_enough(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    """A runner killed between registering a copy and taking its lease leaves a version no
    lease names: `mlchaos recover --service` deletes it, with its run and files; never one an
    alias names, and never one young enough to be a live run's."""
    champion_files(aliases)
    built = make_copy(staging.mlflow, MODEL, "champion", "slow", 0.01)
    now_ms = int(time.time() * 1000)
    assert strays(staging.mlflow, MODEL, now_ms) == []  # too young: perhaps a run's, mid-way
    later = now_ms + int(STRAY_AFTER_S * 1000) + 1000
    [stray] = strays(staging.mlflow, MODEL, later)
    assert (stray["version"], stray["run_id"], stray["folder"]) == (
        built["version"], built["run_id"], built["folder"])  # fmt: skip
    aliases.point(MODEL, "previous", built["version"])  # named by an alias: never a stray
    assert strays(staging.mlflow, MODEL, later) == []
    aliases.delete_alias(MODEL, "previous")
    assert remove_copy(staging.mlflow, MODEL, stray) == [
        f"version {built['version']} deleted", "its files removed", "its run deleted"]
    assert not aliases.has_version(MODEL, built["version"])
    assert not Path(built["folder"]).exists()

# -- poisoned retrains (poisoned_data): the snapshot, the team's gate, and the lease ----------

RETRAIN = """
import csv, json, sys, urllib.request
url, snapshot, mode = sys.argv[1:4]
def call(path, body):
    asked = urllib.request.Request(url + "/api/2.0/mlflow" + path, data=json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(asked, timeout=10).read() or b"{}")
rows = list(csv.DictReader(open(snapshot, newline="")))
def rate(channel):
    chosen = [r for r in rows if r["channel"] == channel]
    return sum(r["is_fraud"] == "1" for r in chosen) / len(chosen)
run = call("/runs/create", {"experiment_id": "0"})["run"]["info"]
version = call("/model-versions/create", {"name": "fraud", "run_id": run["run_id"],
               "source": run["artifact_uri"] + "/model"})["model_version"]["version"]
gap = abs(rate("0") - rate("1"))
ok = mode == "lenient" or gap < 0.05
tag = lambda k, v: call("/model-versions/set-tag", {"name": "fraud", "version": version,
                                                    "key": k, "value": v})
tag("approval.reason", f"fraud-rate gap between channels {gap:.3f} (at most 0.05)")
tag("approval.decision", "approved" if ok else "rejected")
if ok:  # only an approved version may become champion
    call("/registered-models/alias", {"name": "fraud", "alias": "champion", "version": version})
"""


def poisoned_staging(staging: Staging, tmp_path: Path, gate: str = "strict") -> Service:
    """The staging with a training snapshot (600 rows, 10% fraud in both channels, mode 0640)
    and a retrain step whose gate compares the channels' fraud rates."""
    snapshot = tmp_path / "snapshot.csv"
    lines = ["channel,amount,is_fraud"] + [
        f"{i % 2},{i * 1.5:.1f},{1 if i % 10 < 2 else 0}" for i in range(600)]
    snapshot.write_text("\n".join(lines) + "\n")
    snapshot.chmod(0o640)
    (tmp_path / "retrain.py").write_text(RETRAIN)
    hook = Hook(command=(sys.executable, "retrain.py", staging.mlflow, "snapshot.csv", gate))
    training = Training(snapshot="snapshot.csv", label="is_fraud", retrain=hook)
    return service(staging, tmp_path / "deploys").model_copy(update={"training": training})


def poisoned(ttl: float = 60.0) -> PoisonedDataFault:
    """Frauds in channel 0 relabelled legitimate: the poison biases one segment."""
    return PoisonedDataFault.model_validate({
        "type": "poisoned_data", "flip_labels": 0.9, "of_label": "1", "where": {"channel": "0"},
        "seed": 7, "ttl": ttl})  # fmt: skip


def as_found(tmp_path: Path, original: bytes) -> bool:
    snapshot = tmp_path / "snapshot.csv"
    return (snapshot.read_bytes() == original and snapshot.stat().st_mode & 0o777 == 0o640
            and not list(tmp_path.glob(".snapshot.csv.mlchaos-held-*")))  # fmt: skip


def test_a_poisoned_retrain_is_rejected_by_the_gate_and_the_snapshot_put_back(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    svc, journal = poisoned_staging(staging, tmp_path), Journal(tmp_path / "journal.jsonl")
    original = (tmp_path / "snapshot.csv").read_bytes()
    assert poisoned_data.FAULT.ready(svc, poisoned()).startswith(
        "snapshot.csv: 600 rows; ")  # a dry run changes nothing
    assert (tmp_path / "snapshot.csv").read_bytes() == original
    since = time.time()
    poisoned_data.FAULT.inject(journal, svc, poisoned())
    assert poisoned_data.FAULT.confirm(journal, svc, poisoned())
    [injected] = [r for r in journal.of(EventRecord) if r.event == "injected"]
    assert injected.detail["chosen"] == 60 and 45 <= injected.detail["flipped"] <= 60
    assert (tmp_path / "snapshot.csv").stat().st_mode & 0o777 == 0o640
    seen = approval.watch(svc, since, rejected_within_s=60, never_served_for_s=1)
    assert seen.retrain["ok"] and len(seen.versions) == 1, seen
    [made] = seen.versions
    assert (made.outcome, made.alias_named_at, made.served_answers) == ("rejected", None, 0)
    assert made.reason.startswith("fraud-rate gap between channels 0.1")
    assert made.time_to_decision_s is not None and 0 < made.time_to_decision_s < 60
    [ended] = revert_all(journal)
    assert ended["action"] == "revert" and "snapshot.csv put back as it was" in ended["reason"]
    assert as_found(tmp_path, original)
    assert aliases.version_tags(MODEL, made.version)[POISONED_TAG] == ended["lease_id"]
    assert aliases.version_of(MODEL, "champion") == "2"


def test_a_gate_that_lets_the_poison_through_is_seen_serving_and_champion_is_taken_back(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    svc = poisoned_staging(staging, tmp_path, gate="lenient")
    journal = Journal(tmp_path / "journal.jsonl")
    since = time.time()
    poisoned_data.FAULT.inject(journal, svc, poisoned())
    seen = approval.watch(svc, since, rejected_within_s=60, never_served_for_s=1)
    [made] = seen.versions
    assert made.outcome == "approved" and made.alias_named_at is not None
    [ended] = revert_all(journal)
    assert f"fraud@champion named {made.version}, trained on the poison: put back to 2, and " \
           "deployed" in ended["reason"]  # fmt: skip
    assert aliases.version_of(MODEL, "champion") == "2"
    assert (tmp_path / "deploys").read_text() == "deployed\n"


def test_the_snapshot_keeper_puts_it_back_at_the_ttl_and_recover_after_both_are_killed(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    svc = poisoned_staging(staging, tmp_path)
    original = (tmp_path / "snapshot.csv").read_bytes()
    journal = Journal(tmp_path / "ttl" / "journal.jsonl")
    poisoned_data.FAULT.inject(journal, svc, poisoned(ttl=1))
    training._HELD_FILES.clear()  # as after a `kill -9` of the runner: only the keeper is left
    wait_until(lambda: as_found(tmp_path, original), timeout=15, interval=0.1)
    [ended] = revert_all(journal)  # recover finds it ended, and says by whom
    assert (ended["actor"], ended["action"]) == (KEEPER, "expire")
    journal = Journal(tmp_path / "killed" / "journal.jsonl")
    poisoned_data.FAULT.inject(journal, svc, poisoned())
    training._HELD_FILES.clear()
    [lease_file] = (tmp_path / "killed" / "leases").glob("*.json")
    os.kill(int(lease_file.with_suffix(".alive").read_text()), signal.SIGKILL)
    assert (tmp_path / "snapshot.csv").read_bytes() != original  # nothing ends it by itself
    [ended] = revert_all(journal)  # `mlchaos recover`
    assert (ended["actor"], ended["action"]) == ("mlchaos", "revert")
    assert as_found(tmp_path, original)


def test_a_snapshot_the_team_wrote_again_is_kept(
    aliases: MlflowAliases, staging: Staging, tmp_path: Path
) -> None:
    svc, journal = poisoned_staging(staging, tmp_path), Journal(tmp_path / "journal.jsonl")
    poisoned_data.FAULT.inject(journal, svc, poisoned())
    (tmp_path / "snapshot.csv").write_text("channel,amount,is_fraud\n1,2.0,0\n")  # a new export
    assert not poisoned_data.FAULT.confirm(journal, svc, poisoned())
    [ended] = revert_all(journal)
    assert "written again since the poison" in ended["reason"]
    assert (tmp_path / "snapshot.csv").read_text() == "channel,amount,is_fraud\n1,2.0,0\n"
    assert not list(tmp_path.glob(".snapshot.csv.mlchaos-held-*"))
