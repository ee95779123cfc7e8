"""Game days on a staging mlchaos did not write: the fraud team's example stack
(`examples/mlserver-mlflow`): MLServer 1.7.1 serving scikit-learn models that an MLflow
tracking server keeps under aliases, the team's own Prometheus rules on MLServer's metrics,
its deploy step and rollback controller, and its canary (a second MLServer behind HAProxy, and
the team's canary controller). mlchaos runs only its gateway and receiver there.

The stack starts once for the module; the sabotage tests break it and put it right again, and
run in this order (the kill -9 test relies on the controller being stopped).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from mlchaos.faults.leases import ACTOR
from mlchaos.faults.targets.feast_layout import key_pattern, view_fields
from mlchaos.faults.targets.training import POISONED_TAG
from mlchaos.loader import load_service
from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.prometheus import Prometheus
from mlchaos.reference.config import StackConfig
from mlchaos.report.history import History
from tests.conftest import ROOT, example_bin, wait_until
from tests.e2e.conftest import journal_text, results

pytestmark = pytest.mark.e2e
EXAMPLE = ROOT / "examples" / "mlserver-mlflow"
BAD_VERSION = EXAMPLE / "experiments" / "bad-version.yaml"
CANARY = EXAMPLE / "experiments" / "canary-bad-version.yaml"
STALE = EXAMPLE / "experiments" / "stale-features.yaml"
OFFSETS = (0, 70, 71, 80, 81, 82, 84, 85, 86, 90, 93, 94, 443, 500, 600, 610)
ROW = [473, 6.91, 22, 11.7, 1]
"""One transaction as clients send it: its customer, amount, hour, distance and channel."""


@pytest.fixture(scope="module")
def fraud_staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example stack, up; yields its state folder (its service file is service.yaml)."""
    state = tmp_path_factory.mktemp("fraud-staging")
    mlchaos = Path(sys.executable).parent / "mlchaos"
    up = [str(example_bin("python")), str(EXAMPLE / "stack.py"), "up", "--state", str(state),
          "--mlchaos", str(mlchaos), "--base-port", str(_free_base())]  # fmt: skip
    try:
        subprocess.run(up, check=True, timeout=600, cwd=ROOT)
        with pytest.MonkeyPatch.context() as env:  # what `mlchaos` reads the password from
            env.setenv("FRAUD_MONITORING_PASSWORD", secret(state, "monitoring-password"))
            env.setenv("FRAUD_PAGERDUTY_TOKEN", secret(state, "pagerduty-api-token"))
            yield state
    finally:
        down = [
            str(example_bin("python")),
            str(EXAMPLE / "stack.py"),
            "down",
            "--state",
            str(state),
        ]
        subprocess.run(down, timeout=120, cwd=ROOT)


SECRETS = ("routing-key", "monitoring-password", "pagerduty-api-token", "redis-mlchaos-password",
           "redis-fraud-password")
RUNS: list[Path] = []
"""The run folders of this module's game day and canary runs, for the aggregate over them."""


def secret(state: Path, name: str) -> str:
    return (state / name).read_text().strip()


def secrets_in(folder: Path, state: Path) -> list[Path]:
    """Every file under ``folder`` that holds one of the stack's secrets."""
    found = [secret(state, n).encode() for n in SECRETS]
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert len(written) > 3, written
    return [p for p in written if any(s in p.read_bytes() for s in found)]


def _free_base() -> int:
    """A base port from which every port the stack takes is free now, below the kernel's
    ephemeral range (32768 and up), where a client's connection could take one meanwhile."""
    for base in range(20_000, 32_000, 1_000):
        try:
            for offset in OFFSETS:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free port range for the example stack")


def mlchaos(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchaos", *args], cwd=ROOT, text=True, capture_output=True,
        timeout=timeout,
    )  # fmt: skip


def sabotage(state: Path, *options: str) -> None:
    command = [str(example_bin("python")), str(EXAMPLE / "stack.py"), "sabotage",
               "--state", str(state), *options]  # fmt: skip
    subprocess.run(command, check=True, timeout=120, cwd=ROOT)


def service_file(state: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((state / "service.yaml").read_text()))


def aliases(state: Path) -> dict[str, str]:
    url = service_file(state)["endpoints"]["registry"]
    answer = requests.get(f"{url}/api/2.0/mlflow/registered-models/get", params={"name": "fraud"},
                          timeout=10)  # fmt: skip
    return {a["alias"]: a["version"] for a in answer.json()["registered_model"]["aliases"]}


def champion(state: Path) -> str:
    url = service_file(state)["endpoints"]["registry"]
    answer = requests.get(
        f"{url}/api/2.0/mlflow/registered-models/alias",
        params={"name": "fraud", "alias": "champion"}, timeout=10,
    )  # fmt: skip
    return str(answer.json()["model_version"]["version"])


def point_champion(state: Path, version: str) -> None:
    url = service_file(state)["endpoints"]["registry"]
    body = {"name": "fraud", "alias": "champion", "version": version}
    requests.post(f"{url}/api/2.0/mlflow/registered-models/alias", json=body, timeout=10)


def served(state: Path) -> str:
    """The version MLServer answers with, asked through the gateway as clients ask."""
    gateway = service_file(state)["endpoints"]["gateway"]
    body = {"inputs": [{"name": "input-0", "shape": [1, 5], "datatype": "FP64", "data": ROW}]}
    answer = requests.post(f"{gateway}/v2/models/fraud/infer", json=body, timeout=10)
    if not answer.ok:  # MLServer swapping versions answers some requests 404: not yet served
        return f"HTTP {answer.status_code}"
    return str(answer.json()["model_version"])


LAST_TARGET_S = 20.0
"""The sabotaged runs' last target: each event is waited for until its own target, no longer,
so a run that misses them all reverts by then."""


def run_bad_version(state: Path, reports: Path, **changes: Any) -> subprocess.CompletedProcess[str]:
    """The bad version, with tighter targets and no recovery target: a sabotaged run waits
    out each target it misses, and these runs only need to show which."""
    experiment = yaml.safe_load(BAD_VERSION.read_text())
    experiment["fault"].update(changes)
    expect = experiment["expect"]
    expect.pop("recovery")
    expect["no_recovery"] = "a sabotage: only the missed target matters"
    expect["acknowledgement"]["within"] = f"{LAST_TARGET_S:g}s"
    expect["mitigation"]["within"] = f"{LAST_TARGET_S:g}s"
    path = reports.parent / "bad-version.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return mlchaos(
        "run", str(path), "--service", str(state / "service.yaml"), "--rate", "40",
        "--report-dir", str(reports), "--state-dir", str(reports.parent / "runs"),
    )  # fmt: skip


def test_the_fraud_teams_game_day_passes_on_its_own_staging(
    fraud_staging: Path, tmp_path: Path
) -> None:
    snapshot = (fraud_staging / "training" / "snapshot.csv").read_bytes()
    done = mlchaos(
        "gameday", str(EXAMPLE / "scenario.yaml"), "--service",
        str(fraud_staging / "service.yaml"), "--report-dir", str(tmp_path / "reports"),
        "--state-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    found = results(tmp_path / "reports")
    RUNS.extend(p.parent for p in (tmp_path / "reports").glob("*/results.json"))
    verdicts = {e["name"]: e["verdict"] for e in found["experiments"]}
    assert done.returncode == 0, (verdicts, done.stdout[-3000:], done.stderr[-2000:])
    assert set(verdicts.values()) == {"pass"} and len(verdicts) == 15
    by_name = {e["name"]: e for e in found["experiments"]}
    # the canary: the good version promoted, every answer its own; the bad one aborted by the
    # team's analysis at the first step, far below the 25% step; both read from the answers
    control, canary = by_name["fraud-canary-control"], by_name["fraud-canary-bad-version"]
    assert control["rollout"]["outcome"] == "promoted" and control["rollout"]["share_at_end"] == 1
    assert control["actors"]["promoted"] == {"actor": "the team's rollout", "party": "team"}
    assert canary["rollout"]["outcome"] == "aborted", canary["rollout"]
    assert 0 < canary["rollout"]["largest_share"] < 0.2, canary["rollout"]
    assert canary["durations_s"]["time_to_abort"] <= canary["targets_s"]["time_to_abort"]
    # the controller's own account, in Argo Rollouts' metric names through the real adapter
    said = canary["rollout"]["controller_said"]
    assert (said["controller"], said["phase"], said["analysis"]) == (
        "argo-rollouts", "aborted", "Failed"), said  # fmt: skip
    assert aliases(fraud_staging) == {"champion": "2", "previous": "1"}  # as found
    # what each experiment cost the SLOs: a diluted canary burns little and pages nobody,
    # the bad version at 100% burns the declines budget far faster
    budget = {e["name"]: {b["slo"]: b for b in e["budget"]} for e in found["experiments"]}
    assert budget["fraud-canary-bad-version"]["declines"]["peak_burn"] < 6
    assert budget["fraud-bad-version"]["declines"]["peak_burn"] > 6
    quiet = budget["fraud-canary-bad-version"]["declines"]["tiers"]
    assert not any(t["should_fire"] or t["fired"] for t in quiet), quiet
    bad = next(e for e in found["experiments"] if e["name"] == "fraud-bad-version")
    assert bad["sources"]["mitigated"].startswith("gateway answers (version 3 below 5%")
    # MLflow keeps no record of who moved champion: the team's, unnamed; never mlchaos's
    assert bad["actors"]["mitigated"] == {
        "actor": "the team's systems (no record names who)", "party": "team"}  # fmt: skip
    assert bad["sources"]["injected"] == "gateway answers (the first by version 3)"
    injected = bad["timeline"]["injected"]
    assert bad["fault_detail"]["version"] == "3"
    mismatch = bad["version_mismatch"]
    assert mismatch["version"] == "3" and 0 < mismatch["fraction"] < 1 and mismatch["answered"] > 0
    # the team's controller moved champion to `previous` (1); the revert put back the version
    # champion named before the fault, and deployed it: staging is left as it was found
    moves = [json.loads(line) for line in (fraud_staging / "controller.jsonl").open()]
    assert any(m["action"] == "rollback" and m["to_version"] == "1" for m in moves)
    assert champion(fraud_staging) == "2" and served(fraud_staging) == "2"
    assert injected is not None and all(e["baseline"]["restored"] is False
                                        for e in found["experiments"])  # fmt: skip
    sources = bad["sources"]
    assert sources["detected"].startswith("prometheus"), sources
    assert sources["paged"] == "pagerduty REST API incident triggered", sources
    assert sources["acknowledged"] == "pagerduty REST API incident acknowledged", sources
    [postmortem] = (tmp_path / "reports").glob("*/postmortem.md")
    _the_feature_store_failed_where_it_runs(by_name, fraud_staging, postmortem.read_text())
    _the_killed_server_came_back_by_its_supervisor(by_name["fraud-model-server-kill"],
                                                   postmortem.read_text())  # fmt: skip
    _the_canaries_landed_nowhere(by_name["fraud-pii-canary"], fraud_staging)
    _the_slow_build_was_caught_by_mlservers_latency_and_deleted(by_name["fraud-slow-build"],
                                                                fraud_staging)  # fmt: skip
    _the_poisoned_retrain_was_rejected_and_never_served(
        by_name["fraud-poisoned-retrain"], fraud_staging, snapshot, postmortem.read_text())
    # neither the routing key (a mounted secret) nor the monitoring password is in any file
    # the game day wrote, nor in what it printed
    assert secrets_in(tmp_path, fraud_staging) == []
    printed = done.stdout + done.stderr
    assert not [n for n in SECRETS if secret(fraud_staging, n) in printed]


def _the_feature_store_failed_where_it_runs(
    by_name: dict[str, Any], state: Path, postmortem: str
) -> None:
    """Redis itself stopped answering, then one feature view vanished from it, then the model
    server's password was rotated without telling it: each caught by the team's own
    feature-store rules, reported as the dependency's failure (not the model's), and put
    right: Redis answers, every customer's features are back, the password is the original."""
    outage, stale = by_name["fraud-feature-store-outage"], by_name["fraud-stale-features"]
    assert outage["sources"]["injected"] == "redis: CLIENT PAUSE (outage) in effect"
    assert outage["sources"]["reverted"] == "redis: a PING answered again (revert)"
    assert outage["expected"]["alert"] == "FraudFeatureLookupsFailing"
    seen = {s["name"]: s for s in outage["slis_while_in"]}
    failing = seen["lookup-failure-ratio"]
    assert failing["held"] is False and failing["worst"] > 0.5, failing
    assert seen["edge-error-ratio"]["held"] is True  # the fallback defaults kept answering
    assert stale["fault_detail"]["feature_view"] == "customer_activity"
    assert stale["sources"]["injected"].startswith("redis: customer_activity's values moved out")
    # the silent failure: every transaction lacked a stored feature, latency stayed green,
    # and the team's pipeline wrote the view again before the revert (the recovery is theirs)
    seen = {s["name"]: s for s in stale["slis_while_in"]}
    assert seen["features-not-found"]["worst"] >= 0.9 and seen["edge-p99-seconds"]["held"]
    assert stale["durations_s"]["mttr"] <= stale["targets_s"]["mttr"]
    assert stale["actors"]["recovered"]["party"] == "team"
    moves = [json.loads(line) for line in (state / "controller.jsonl").open()]
    assert any(m["action"] == "rematerialized" for m in moves), moves
    assert served(state) == "2"  # Redis answers the model server again: no fallback needed
    assert ("into the service's dependency `feature-store` (stale: feature view "
            "`customer_activity`), not the model") in postmortem
    # the rotation: refused until the team's controller propagated the secret (a reload);
    # the revert put the old password back in Redis and in the file, and propagated it again
    rotation = by_name["fraud-secret-rotation"]
    assert rotation["sources"]["injected"].startswith("redis: fraud's password rotated")
    assert rotation["sources"]["reverted"] == "redis: fraud's old password put back (revert)"
    seen = {s["name"]: s for s in rotation["slis_while_in"]}
    assert seen["lookup-failure-ratio"]["worst"] > 0.5 and seen["edge-error-ratio"]["held"]
    assert rotation["durations_s"]["mttr"] <= rotation["targets_s"]["mttr"]
    assert rotation["actors"]["recovered"]["party"] == "team"
    asked = [m for m in moves if m["action"] == "reload_secret"]
    assert asked and asked[0]["alert"] == "FraudFeatureStoreAuthFailing", moves
    assert any(m["action"] == "reloaded" for m in moves), moves
    password = secret(state, "redis-fraud-password")
    assert redis.Redis(port=_redis_port(state), username="fraud", password=password).ping()
    assert ("the password of its user `fraud` rotated without telling the consumer"
            in postmortem)


def _the_killed_server_came_back_by_its_supervisor(kill: dict[str, Any], postmortem: str) -> None:
    """MLServer killed as an OOM kill looks: clients got errors, the team's edge rule caught
    it, and supervisord restarted it; mlchaos restarted nothing."""
    assert kill["sources"]["injected"].startswith("process: SIGKILL to model-server's server")
    assert kill["sources"]["reverted"] == "process: model-server answers again"
    [seen] = kill["slis_while_in"]
    assert seen["name"] == "edge-error-ratio" and seen["held"] is False, seen
    assert kill["durations_s"]["mttr"] <= kill["targets_s"]["mttr"]
    assert kill["actors"]["recovered"]["party"] == "team"
    assert ("into the service's process `model-server` (kill of the server), not the model"
            in postmortem)


def _the_slow_build_was_caught_by_mlservers_latency_and_deleted(
    slow: dict[str, Any], state: Path
) -> None:
    """mlchaos built a slow copy of champion in MLflow (a version no team registered), the
    deploy step served it, MLServer's own latency rule caught it, the team rolled back, and
    the revert deleted the copy: MLflow holds the team's three versions again."""
    source = slow["sources"]["injected"]
    assert source.startswith("gateway answers (the first by version "), source
    built = source.removeprefix("gateway answers (the first by version ").rstrip(")")
    assert built not in ("1", "2", "3") and slow["fault_detail"]["variant"] == "slow"
    assert slow["expected"]["alert"] == "FraudServerSlow"
    seen = {s["name"]: s for s in slow["slis_while_in"]}
    assert seen["server-p90-seconds"]["held"] is False, seen  # MLServer's own latency broke
    assert slow["actors"]["mitigated"]["party"] == "team"
    assert slow["durations_s"]["mttr"] <= slow["targets_s"]["mttr"]
    assert sorted(registered(state)) == ["1", "2", "3"]
    assert aliases(state) == {"champion": "2", "previous": "1"}


def registered(state: Path) -> dict[str, dict[str, str]]:
    """Every version of fraud in MLflow, but those a poisoned retrain made (tagged so by the
    lease's end): its tags."""
    url = service_file(state)["endpoints"]["registry"]
    found = requests.get(f"{url}/api/2.0/mlflow/model-versions/search",
                         params={"filter": "name='fraud'"}, timeout=10).json()  # fmt: skip
    tagged = {v["version"]: {t["key"]: t["value"] for t in v.get("tags", [])}
              for v in found["model_versions"]}  # fmt: skip
    return {v: tags for v, tags in tagged.items() if POISONED_TAG not in tags}


def _the_poisoned_retrain_was_rejected_and_never_served(
    poisoned: dict[str, Any], state: Path, snapshot: bytes, postmortem: str
) -> None:
    """The team's gate rejected the version its pipeline trained on web fraud relabelled as
    legitimate, in its own words; it was never served; the snapshot is back, byte for byte."""
    approval = poisoned["approval"]
    [version] = approval["versions"]
    assert approval["retrain"]["ok"] and version["outcome"] == "rejected", approval
    assert "recall gap between channels" in version["reason"] and "web lowest" in version["reason"]
    assert 0 < version["time_to_decision_s"] <= approval["rejected_within_s"]
    assert version["alias_named_at"] is None and version["served_answers"] == 0
    assert poisoned["fault_detail"]["where"] == {"channel": "0"}
    assert (state / "training" / "snapshot.csv").read_bytes() == snapshot
    assert not list((state / "training").glob(".snapshot.csv.mlchaos-held-*"))
    assert version["version"] not in registered(state)  # tagged as trained on the poison
    assert "### Approval gate" in postmortem and "the team's training data, not what was served" \
        in postmortem  # fmt: skip


def _the_canaries_landed_nowhere(canary: dict[str, Any], state: Path) -> None:
    """Fake cards and emails went through MLServer; the inference log holds only the team's
    keyed pseudonyms of them, and no place the service file names holds a canary."""
    privacy = canary["privacy"]
    assert canary["timeline"]["detected"] is None and privacy["found"] == 0, privacy
    searched = {s["sink"]: s for s in privacy["sinks"]}
    assert list(searched) == ["answers", "inference-log", "model-server-logs", "training-data",
                              "mlflow-artifacts", "metrics"]
    assert not any(s.get("error") for s in searched.values()), searched
    assert searched["answers"]["read"] == "10 answer(s) of 10"
    marker = privacy["marker"]
    # The canaries did reach the inference log: as pseudonyms, one line each.
    lines = [json.loads(line) for line in (state / "inference" / "inference.jsonl").open()]
    pseudonymous = [line for line in lines if "card_number" in line and "email" in line]
    assert len(pseudonymous) >= 10 and all(len(line["card_number"]) == 24 for line in pseudonymous)
    assert marker not in (state / "inference" / "inference.jsonl").read_text()


def test_logged_raw_requests_and_a_lenient_gate_fail_their_experiments_naming_why(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """The team's debug switch left on: the inference log takes each request's raw parameters.
    The canary finds its fake cards and emails there, and only there, with the line. And the
    approval gate loosened until anything passes: the poisoned retrain is approved, becomes
    champion and serves, and the lease's end takes champion back from it."""
    sabotage(fraud_staging, "--log-raw-requests", "--lenient-gate")
    try:
        runner = _start_alone(fraud_staging, tmp_path, ["pii-canary", "poisoned-retrain"],
                              tmp_path / "reports")  # fmt: skip
        stdout, stderr = runner.communicate(timeout=600)
    finally:
        sabotage(fraud_staging)
    found, poisoned = results(tmp_path / "reports")["experiments"]
    assert (runner.returncode, found["verdict"]) == (1, "fail"), stdout[-3000:] + stderr[-2000:]
    [version] = poisoned["approval"]["versions"]
    assert poisoned["verdict"] == "fail" and version["outcome"] == "approved", poisoned
    assert poisoned["reasons"][0].startswith(
        f"approval: the gate approved version {version['version']}, trained on the poisoned "
        "snapshot (holdout AUC")  # fmt: skip
    assert poisoned["reasons"][1].startswith(
        f"approval: version {version['version']}, trained on the poisoned snapshot, was "
        "served: the alias named it at")  # fmt: skip
    assert f"v{version['version']} approved ✗, served ✗" in stdout
    assert aliases(fraud_staging) == {"champion": "2", "previous": "1"}  # taken back
    wait_until(lambda: served(fraud_staging) == "2", timeout=30)
    done = subprocess.CompletedProcess([], runner.returncode, stdout, stderr)
    finds = {s["sink"]: s["finds"] for s in found["privacy"]["sinks"]}
    assert {sink for sink, f in finds.items() if f} == {"inference-log"}, finds
    log = str(fraud_staging / "inference" / "inference.jsonl")
    assert {f["kind"] for f in finds["inference-log"]} == {"card_number", "email"}
    assert all(f["where"].startswith(f"{log} line ") for f in finds["inference-log"])
    [reason] = found["reasons"]
    assert reason.startswith("privacy: 20 canary value(s) (card_number, email) found in "
                             "inference-log, the first 4000"), reason  # fmt: skip
    assert "found 20 ✗ in inference-log" in done.stdout


def test_a_wrong_monitoring_password_injects_nothing_and_says_so_in_one_line(
    fraud_staging: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUD_MONITORING_PASSWORD", "not-the-monitoring-password")
    before = champion(fraud_staging)
    done = run_bad_version(fraud_staging, tmp_path / "reports")
    assert done.returncode == 3, done.stdout[-2000:]
    [experiment] = results(tmp_path / "reports")["experiments"]
    assert experiment["verdict"] == "inconclusive" and experiment["timeline"]["injected"] is None
    refusal = ("refused mlchaos's credentials (HTTP 401); mlchaos used basic auth as mlchaos "
               "($FRAUD_MONITORING_PASSWORD)")  # fmt: skip
    assert any(refusal in r for r in experiment["reasons"]), experiment["reasons"]
    assert "Traceback" not in done.stderr and champion(fraud_staging) == before
    assert secrets_in(tmp_path, fraud_staging) == []
    assert "not-the-monitoring-password" not in done.stdout + done.stderr


def _active_alerts(state: Path) -> list[str]:
    service = load_service(state / "service.yaml")
    prometheus = Prometheus(service.prometheus_url, service.prometheus_access)
    return [a["labels"]["alertname"] for a in prometheus.alerts()]


def doctor(state: Path, service: Path | None = None) -> subprocess.CompletedProcess[str]:
    return mlchaos("doctor", "--service", str(service or state / "service.yaml"),
                   str(EXAMPLE / "scenario.yaml"), timeout=300)  # fmt: skip


def test_doctor_passes_on_the_staging_and_names_each_problem_on_its_own_line(
    fraud_staging: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = doctor(fraud_staging)
    lines = healthy.stdout.splitlines()
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert len(lines) > 20 and all(line.startswith("ok ") for line in lines), lines
    assert any(line.startswith("ok   pager: pagerduty REST API answers") for line in lines)
    assert any("hold customer_activity; its values would vanish" in line for line in lines), lines
    assert any("fraud logs in with redis-fraud-password" in line for line in lines), lines
    assert any("snapshot.csv: 20000 rows; " in line for line in lines), lines  # poisoned_data
    # its warm-up replays the payload in order, as the load does: it sets off no alert
    assert _active_alerts(fraud_staging) == [], healthy.stdout

    # every rule gone, and a payload the model rejects (one field short of its five)
    rejected = service_file(fraud_staging)
    rejected["payload"]["features"] = rejected["payload"]["features"][:4]
    (fraud_staging / "rejected.yaml").write_text(yaml.safe_dump(rejected))
    sabotage(fraud_staging, "--no-rules")
    try:
        broken = doctor(fraud_staging, fraud_staging / "rejected.yaml")
    finally:
        sabotage(fraud_staging)
    failed = [line for line in broken.stdout.splitlines() if line.startswith("FAIL")]
    assert broken.returncode == 1, broken.stdout
    assert any("model: one request of the payload got HTTP" in line for line in failed), failed
    no_rule = [line for line in failed if "no loaded alerting rule is named" in line]
    assert len(no_rule) == 11, failed  # every alert but those of the canaries (2), PII, retrain

    # the wrong password, and the model stopped
    monkeypatch.setenv("FRAUD_MONITORING_PASSWORD", "not-the-monitoring-password")
    sabotage(fraud_staging, "--no-model")
    try:
        broken = doctor(fraud_staging)
    finally:
        sabotage(fraud_staging)
    failed = [line for line in broken.stdout.splitlines() if line.startswith("FAIL")]
    assert broken.returncode == 1, broken.stdout
    for name in ("prometheus", "alertmanager"):
        assert any(line.startswith(f"FAIL {name}: ") and "refused mlchaos's credentials" in line
                   for line in failed), failed  # fmt: skip
    assert any(line.startswith("FAIL model: ") for line in failed), failed
    assert "not-the-monitoring-password" not in broken.stdout + broken.stderr
    assert served(fraud_staging) in ("1", "2")  # MLServer is back, serving champion


def test_init_writes_a_starter_that_validates_from_the_staging_prometheus(
    fraud_staging: Path, tmp_path: Path
) -> None:
    endpoints = service_file(fraud_staging)["endpoints"]
    done = mlchaos(
        "init", "--prometheus", endpoints["prometheus"]["url"], "--alertmanager",
        endpoints["alertmanager"]["url"], "--gateway", endpoints["gateway"], "--model", "fraud",
        "--pagerduty-service", "fraud-oncall", "--username", "mlchaos",
        "--password-env", "FRAUD_MONITORING_PASSWORD",
        "--ca-file", str(fraud_staging / "tls" / "cert.pem"), "--out", str(tmp_path / "starter"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "starter" / "experiments").iterdir())
    # gateway faults only for the alerts on the gateway's metrics: MLServer's own counters
    # never see a request the gateway delays or answers itself
    assert written == ["fraud-edge-errors.yaml", "fraud-edge-latency-high.yaml"], written
    assert (
        "no fault guessed for alert FraudInferenceErrors: it reads only "
        "rest_server_requests_total, which a gateway error_burst cannot reach"
    ) in done.stderr
    assert "no fault guessed for alert FraudAmountDrift" in done.stderr
    assert "is not in Prometheus yet" not in done.stderr + "".join(
        p.read_text() for p in (tmp_path / "starter" / "experiments").iterdir()
    )  # the gateway is scraped
    starter = yaml.safe_load((tmp_path / "starter" / "service.yaml").read_text())
    assert starter["endpoints"]["prometheus"]["basic_auth"] == {
        "username": "mlchaos", "password_env": "FRAUD_MONITORING_PASSWORD"}  # fmt: skip
    # it pages where Alertmanager's receiver does, not PagerDuty's SaaS
    assert starter["pagerduty"]["url"] == service_file(fraud_staging)["pagerduty"]["url"]
    checked = mlchaos("validate", str(tmp_path / "starter" / "service.yaml"),
                      *map(str, (tmp_path / "starter" / "experiments").iterdir()))  # fmt: skip
    assert checked.returncode == 0, checked.stdout

    # the pairing init refused, written by hand: doctor warns, and names the metrics that can
    blind = yaml.safe_load((EXAMPLE / "experiments" / "error-burst.yaml").read_text())
    blind["expect"]["detection"]["alert"] = "FraudInferenceErrors"
    (tmp_path / "blind.yaml").write_text(yaml.safe_dump(blind))
    warned = mlchaos("doctor", "--service", str(fraud_staging / "service.yaml"),
                     str(tmp_path / "blind.yaml"), timeout=300)  # fmt: skip
    assert warned.returncode == 0, warned.stdout  # a warning, not a failure
    [line] = [x for x in warned.stdout.splitlines() if x.startswith("warn")]
    assert line.startswith(
        "warn fraud-error-burst reach: FraudInferenceErrors reads only rest_server_requests_total"
    ) and "mlchaos_gateway_*" in line, line


def failed_for(state: Path, reports: Path, *broken: str) -> list[str]:
    """Run the bad version with the stack sabotaged as ``broken`` says (put right after, but
    for ``--no-controller``, which the kill -9 test needs); the failure's reasons."""
    sabotage(state, *broken)
    try:
        done = run_bad_version(state, reports)
    finally:
        if broken != ("--no-controller",):
            sabotage(state)
    [experiment] = results(reports)["experiments"]
    assert (done.returncode, experiment["verdict"]) == (1, "fail"), done.stdout[-3000:]
    return list(experiment["reasons"])


def run_canary(state: Path, reports: Path, *broken: str, within: str = "20s") -> dict[str, Any]:
    """The bad canary with the team's canary controller sabotaged as ``broken`` says (put
    right after), the abort target ``within``; its results."""
    experiment = yaml.safe_load(CANARY.read_text())
    experiment["expect"]["abort"]["within"] = within
    path = reports.parent / "canary.yaml"
    path.write_text(yaml.safe_dump(experiment))
    sabotage(state, *broken)
    try:
        done = mlchaos(
            "run", str(path), "--service", str(state / "service.yaml"), "--rate", "40",
            "--report-dir", str(reports),
        )  # fmt: skip
    finally:
        sabotage(state)
    [found] = results(reports)["experiments"]
    RUNS.extend(p.parent for p in reports.glob("*/results.json"))
    assert (done.returncode, found["verdict"]) == (1, "fail"), done.stdout[-3000:]
    assert aliases(state) == {"champion": "2", "previous": "1"}
    return dict(found)


def test_a_canary_that_tolerates_every_failure_reaches_100_and_fails_naming_it(
    fraud_staging: Path, tmp_path: Path
) -> None:
    # Five steps and the promotion take about 45 s, more on a busy runner: the watch must last
    # that long to see it (it ends as soon as it does: a promotion is the other outcome).
    found = run_canary(fraud_staging, tmp_path / "reports", "--failure-limit", "99",
                       within="90s")  # fmt: skip
    assert found["rollout"]["outcome"] == "promoted" and found["rollout"]["largest_share"] == 1
    first = found["reasons"][0]
    assert "the rollout promoted 3" in first and "(it reached 100%" in first
    assert "reached 100% of the answers, at or above the 20%" in found["reasons"][1]
    assert found["durations_s"]["time_to_abort"] is None  # never aborted: promoted instead
    assert served(fraud_staging) == "2"


def test_the_aggregate_over_these_runs_shows_rollback_rate_and_canary_pass_rate(
    tmp_path: Path,
) -> None:
    """The game day (its two canaries pass, the bad version and the slow build are rolled back
    by the team) and the sabotaged canary (never aborted: the bad version reached 100%)."""
    if len(RUNS) != 2:
        pytest.skip(f"needs the game day and the canary sabotage of this module: {len(RUNS)}")
    done = mlchaos("report", *map(str, RUNS), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "aggregate.md").read_text()
    # releases: the control, the bad canary, the bad version, the slow build, the sabotaged
    # canary; taken back out by the team: the bad canary (aborted), the bad version and the
    # slow build (rolled back); canaries: the control and the bad one pass, the sabotaged fails
    [everything] = [line for line in table.splitlines() if line.startswith("| all |")]
    cells = [c.strip() for c in everything.strip("|").split("|")]
    assert cells[:5] == ["all", "2", "16", "60% of 5", "67% of 3"], everything
    assert 'id="practice"' in (tmp_path / "aggregate.html").read_text()


def test_a_removed_rule_fails_detection_and_reverts_by_the_last_target(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """The detecting rule removed from the team's Prometheus (the reference stack's nightly
    shows every experiment's own alert fires; this is the one test of a removed rule, and
    test_alert_that_no_rule_defines_fails_on_detection the one of a misspelt alert)."""
    reasons = failed_for(fraud_staging, tmp_path / "reports", "--without-rule", "FraudFlagRateHigh")
    assert reasons[0].startswith("detection (MTTD): target 15s missed, no loaded alerting rule "
                                 "defines FraudFlagRateHigh"), reasons  # fmt: skip
    # nothing can page for an alert no rule defines: known at once, not waited out
    assert any("no rule defines FraudFlagRateHigh, so nothing pages for it" in r
               for r in reasons), reasons  # fmt: skip
    [exp] = results(tmp_path / "reports")["experiments"]
    timeline = {k: datetime.fromisoformat(v) for k, v in exp["timeline"].items() if v}
    kept = (timeline["reverted"] - timeline["injected"]).total_seconds()
    # not kept in to wait for events that can no longer count: by the last target at the latest
    assert kept <= LAST_TARGET_S + 5, kept
    assert champion(fraud_staging) == "2" and served(fraud_staging) == "2"


def test_stale_features_without_the_null_feature_rule_fail_while_p99_stays_green(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """The silent failure with the team's NOT_FOUND rule removed: nothing pages, the run fails
    on detection, and its report shows why nobody would have noticed: p99 held its SLO while
    every transaction lacked a stored feature. The revert puts the view back."""
    experiment = yaml.safe_load(STALE.read_text())
    expect = experiment["expect"]
    for target in ("acknowledgement", "paging", "detection"):
        expect[target]["within"] = "10s"
    # With no page nothing rematerializes: the wait for the recovery keeps the fault in until
    # its target, long enough for the team's metrics to show what it did.
    expect["recovery"]["within"] = "20s"
    path = tmp_path / "stale.yaml"
    path.write_text(yaml.safe_dump(experiment))
    reports = tmp_path / "reports"
    sabotage(fraud_staging, "--without-rule", "FraudFeaturesNotFound")
    try:
        done = mlchaos(
            "run", str(path), "--service", str(fraud_staging / "service.yaml"), "--rate", "40",
            "--report-dir", str(reports), "--state-dir", str(tmp_path / "runs"),
        )  # fmt: skip
    finally:
        sabotage(fraud_staging)
    [exp] = results(reports)["experiments"]
    assert (done.returncode, exp["verdict"]) == (1, "fail"), done.stdout[-3000:]
    missed = "detection (MTTD): target 10s missed, no loaded alerting rule defines "
    assert exp["reasons"][0].startswith(f"{missed}FraudFeaturesNotFound"), exp["reasons"]
    assert any(r.startswith("recovery (MTTR): target 20s missed") for r in exp["reasons"])
    seen = {s["name"]: s for s in exp["slis_while_in"]}
    assert seen["features-not-found"]["held"] is False, seen
    assert seen["features-not-found"]["worst"] >= 0.9, seen  # every transaction lacked one
    assert seen["edge-p99-seconds"]["held"] is True, seen
    [postmortem] = reports.glob("*/postmortem.md")
    assert "`edge-p99-seconds` reached" in postmortem.read_text()
    assert "(held its SLO, below 0.5)" in postmortem.read_text()
    assert served(fraud_staging) == "2"
    # the revert put every customer's prior_txns back: the model server finds them all again
    assert exp["sources"]["reverted"] == "redis: the held values put back (revert)"


def test_a_broken_deploy_step_fails_mitigation_though_mlflow_says_rolled_back(
    fraud_staging: Path, tmp_path: Path
) -> None:
    before = champion(fraud_staging)
    reasons = failed_for(fraud_staging, tmp_path / "reports", "--broken-deploy")
    assert any("mitigation (MTTM): target 20s missed" in r for r in reasons), reasons
    # the controller did move the alias: only what was served shows the rollback failed
    moves = [json.loads(line) for line in (fraud_staging / "controller.jsonl").open()]
    assert any(m["action"] == "rollback" and m["from_version"] == "3" for m in moves)
    assert served(fraud_staging) != "3"  # mlchaos's revert deployed what champion names
    point_champion(fraud_staging, before)


def start_bad_version(
    state: Path, tmp_path: Path, ttl: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`mlchaos run` of the bad version with lease ``ttl``, in the background (to be killed);
    the process and its report folder."""
    experiment = yaml.safe_load(BAD_VERSION.read_text())
    experiment["fault"]["ttl"] = ttl
    path = tmp_path / "bad-version.yaml"
    path.write_text(yaml.safe_dump(experiment))
    reports = tmp_path / "reports"
    runner = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "run", str(path), "--service",
         str(state / "service.yaml"), "--rate", "40", "--report-dir", str(reports),
         "--state-dir", str(tmp_path / "runs")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return runner, reports


def test_after_kill_9_the_lease_keeper_puts_champion_back_within_the_ttl(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """The team's controller rolls champion back to `previous` (1) and deploys; at the TTL the
    keeper puts back what served before the fault (2) and deploys again, whatever the team
    moved meanwhile."""
    before, ttl = champion(fraud_staging), 15.0
    runner, reports = start_bad_version(fraud_staging, tmp_path, f"{ttl:g}s")
    try:
        wait_until(lambda: '"event": "injected"' in journal_text(reports), 120)
        granted = time.time()
        assert champion(fraud_staging) == "3"
        runner.kill()
        runner.wait(30)
        wait_until(lambda: champion(fraud_staging) == before, timeout=ttl + 10, interval=0.2)
        back_after = time.time() - granted
        wait_until(lambda: served(fraud_staging) == before, timeout=15)
    finally:
        runner.kill()
        sabotage(fraud_staging)
    assert back_after <= ttl + 5, f"champion came back {back_after:.1f}s after the injection"
    # a gateway lease no journal names (a run whose folder was deleted), held by mlchaos
    gateway = GatewayClient(service_file(fraud_staging)["endpoints"]["gateway"])
    orphan = gateway.inject("latency_spike", {"delay_s": 0.2}, 1.0, 1, 600, ACTOR)["lease"]
    # `mlchaos recover --service`, with no reference stack: the run's journal says what the
    # keeper did, and the staging's own gateway is swept
    recovered = mlchaos("recover", "--report-dir", str(reports),
                        "--service", str(fraud_staging / "service.yaml"))  # fmt: skip
    said = recovered.stdout + recovered.stderr
    assert recovered.returncode == 0, said
    assert "already ended, nothing to revert" in said
    assert "expire by mlchaos lease keeper" in said
    assert f"ended gateway lease {orphan['id']} (latency_spike)" in said
    assert "recovered: 1 fault(s) reverted now" in said
    assert gateway.faults() == []


def test_with_runner_and_keeper_killed_and_the_run_folder_deleted_recover_uses_mlflow(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """`kill -9` of mlchaos during a bad version, then of its lease keeper, and the run folder
    deleted (a wiped CI workspace): the lease MLflow carries is all that is left, and
    `mlchaos recover --service` finds it there and puts champion back."""
    before = champion(fraud_staging)
    sabotage(fraud_staging, "--no-controller")  # nobody but mlchaos may move champion back
    runner, reports = start_bad_version(fraud_staging, tmp_path, "10m")
    try:
        wait_until(lambda: '"event": "injected"' in journal_text(reports), 120)
        runner.kill()
        runner.wait(30)
        killed = subprocess.run(["pkill", "-9", "-f", f"mlchaos.faults.keeper {reports}"])
        assert killed.returncode == 0
        shutil.rmtree(reports)  # the run folder, and the open-run marker beside it
        assert champion(fraud_staging) == "3"
        recovered = mlchaos("recover", "--service", str(fraud_staging / "service.yaml"),
                            "--state-dir", str(tmp_path / "state"),
                            "--report-dir", str(reports))  # fmt: skip
    finally:
        runner.kill()
        _until_flag_alert_clears(fraud_staging)
        sabotage(fraud_staging)
    said = recovered.stdout + recovered.stderr
    assert recovered.returncode == 0, said
    assert "MLflow carries mlchaos lease" in said and "its keeper is gone" in said
    assert "recovered: 1 fault(s) reverted now" in said
    assert champion(fraud_staging) == before
    wait_until(lambda: served(fraud_staging) == before, timeout=30)
    checked = doctor(fraud_staging)
    assert any(line.startswith("ok   registry lease: fraud carries no mlchaos lease")
               for line in checked.stdout.splitlines()), checked.stdout  # fmt: skip


def _until_flag_alert_clears(state: Path, limit_s: float = 60.0) -> None:
    """Before the team's controller is back: the bad version's flag-rate alert outlives it
    by its 10 s window, and the controller would roll back the good version it finds then,
    moving champion under the next test (bounded: it comes back after ``limit_s`` anyway)."""
    deadline = time.monotonic() + limit_s
    while "FraudFlagRateHigh" in _active_alerts(state) and time.monotonic() < deadline:
        time.sleep(0.5)


def _start_alone(
    state: Path, tmp_path: Path, names: str | list[str], reports: Path
) -> subprocess.Popen[str]:
    """`mlchaos gameday` of some of the example's experiments, started in the background."""
    names = [names] if isinstance(names, str) else names
    for name in names:
        experiment = yaml.safe_load((EXAMPLE / "experiments" / f"{name}.yaml").read_text())
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(experiment))
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({
        "version": 1, "name": f"{names[0]}-alone", "experiments": [f"{n}.yaml" for n in names],
        "load": {"users": 10, "rate": 40, "ramp_up": "3s"},
        "responders": {"mode": "automated", "ack_delay": "2s"},
    }))  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gameday", str(scenario), "--service",
         str(state / "service.yaml"), "--report-dir", str(reports), "--state-dir",
         str(tmp_path / "runs")],
        cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_stale_view_stopped_by_ctrl_c_is_put_back(fraud_staging: Path, tmp_path: Path) -> None:
    """The revert matrix's Ctrl-C, on the silent failure: the run exits 130, and every
    customer's customer_activity values are back in Redis, with no held hash left."""
    mlchaos_user = redis.Redis(
        port=_redis_port(fraud_staging), username="mlchaos",
        password=secret(fraud_staging, "redis-mlchaos-password"),
    )  # fmt: skip
    fields = view_fields("customer_activity", ("prior_txns",))

    def holding() -> tuple[int, int]:
        keys = list(mlchaos_user.scan_iter(match=key_pattern("fraud"), count=500))
        return sum(bool(mlchaos_user.hexists(k, fields[-1])) for k in keys), len(keys)

    held, keys = holding()
    assert keys >= 500 and held == keys  # materialized at start: every customer
    reports = tmp_path / "reports"
    runner = _start_alone(fraud_staging, tmp_path, "stale-features", reports)
    wait_until(lambda: '"event": "injected"' in journal_text(reports), 180)
    assert holding()[0] < keys  # the view is gone (the team's pipeline may be writing it back)
    runner.send_signal(signal.SIGINT)
    _, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 130, stderr[-2000:]
    assert holding() == (keys, keys)
    assert not list(mlchaos_user.scan_iter(match="mlchaos:held:*"))


def test_a_rotation_stopped_by_sigterm_leaves_the_old_password_everywhere(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """The revert matrix's SIGTERM, on the most dangerous new fault: the run exits 130, and
    Redis, the team's secret file and the model server are all back on the old password (the
    other endings are covered on a real Redis in tests/integration/test_secret_rotation.py)."""
    original = (fraud_staging / "redis-fraud-password").read_bytes()
    reports = tmp_path / "reports"
    runner = _start_alone(fraud_staging, tmp_path, "secret-rotation", reports)
    reloads = _reloads(fraud_staging)
    wait_until(lambda: '"event": "injected"' in journal_text(reports), 180)
    assert (fraud_staging / "redis-fraud-password").read_bytes() != original  # rotated
    # the team's controller has propagated the new password: now only the revert's own
    # propagation can put the model server back on the old one
    wait_until(lambda: _reloads(fraud_staging) > reloads, timeout=60)
    runner.send_signal(signal.SIGTERM)
    _, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 130, stderr[-2000:]
    assert (fraud_staging / "redis-fraud-password").read_bytes() == original
    assert not list(fraud_staging.glob(".redis-fraud-password.mlchaos-held-*"))
    password = original.decode().strip()
    assert redis.Redis(port=_redis_port(fraud_staging), username="fraud",
                       password=password).ping()  # fmt: skip
    # the model server is back on it too (the revert's propagation step ran): once its
    # connections are closed, which Redis would keep open across a password change, it
    # logs in again and its lookups succeed
    mlchaos_user = redis.Redis(
        port=_redis_port(fraud_staging), username="mlchaos",
        password=secret(fraud_staging, "redis-mlchaos-password"),
    )  # fmt: skip
    mlchaos_user.execute_command("CLIENT", "KILL", "USER", "fraud")
    assert _lookups_fail(fraud_staging) == 0.0


def test_a_poisoned_retrain_stopped_by_sigterm_puts_the_snapshot_back(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """The revert matrix's SIGTERM on a poisoned snapshot, while the team's retrain may still
    be reading it: the run exits 130 once the retrain step has ended, and the snapshot is the
    original, byte for byte (the other endings run on a real MLflow in
    tests/integration/test_mlflow_alias.py)."""
    snapshot = fraud_staging / "training" / "snapshot.csv"
    original = snapshot.read_bytes()
    found = aliases(fraud_staging)
    reports = tmp_path / "reports"
    runner = _start_alone(fraud_staging, tmp_path, "poisoned-retrain", reports)
    wait_until(lambda: '"event": "injected"' in journal_text(reports), 180)
    assert snapshot.read_bytes() != original  # poisoned
    runner.send_signal(signal.SIGTERM)
    _, stderr = runner.communicate(timeout=300)
    assert runner.returncode == 130, stderr[-2000:]
    assert snapshot.read_bytes() == original
    assert not list(snapshot.parent.glob(".snapshot.csv.mlchaos-held-*"))
    assert aliases(fraud_staging) == found  # as found: no version of the poison took over


def _reloads(state: Path) -> int:
    """How often the team's controller has propagated the secret (reloaded the model)."""
    log = state / "controller.jsonl"
    return log.read_text().count('"action": "reloaded"') if log.exists() else 0


def _lookups_fail(state: Path) -> float:
    """The share of 10 requests sent now whose feature-store lookup failed, from MLServer's
    own counters (read before and after)."""
    port = json.loads((state / "ports.json").read_text())["mlserver_metrics"]

    def counters() -> tuple[float, float]:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        found = {}
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in ("fraud_feature_lookup_failed_sum", "fraud_feature_lookup_failed_count"):
                found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return found.get("fraud_feature_lookup_failed_sum", 0.0), found.get(
            "fraud_feature_lookup_failed_count", 0.0)  # fmt: skip

    failed, total = counters()
    for _ in range(10):
        served(state)
    failed_after, total_after = counters()
    assert total_after - total >= 10
    return (failed_after - failed) / (total_after - total)


def test_a_game_day_that_finds_the_baseline_moved_restores_it_and_says_so(
    fraud_staging: Path, tmp_path: Path
) -> None:
    """Between two experiments someone rolls champion back to version 1 (a late rollback,
    by hand): the second experiment finds version 1 serving, restores the declared version 2
    through MLflow and the team's deploy step, and its result says so."""
    service = service_file(fraud_staging)
    service["production_version"] = "2"
    # beside service.yaml, so that its relative paths stay right
    declared = fraud_staging / "declared.yaml"
    declared.write_text(yaml.safe_dump(service))
    experiments = []
    for name in ("schema-change", "missing-features"):
        experiment = yaml.safe_load((EXAMPLE / "experiments" / f"{name}.yaml").read_text())
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(experiment))
        experiments.append(f"{name}.yaml")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({
        "version": 1, "name": "moved-baseline", "experiments": experiments,
        "load": {"users": 10, "rate": 40, "ramp_up": "3s"},
        "responders": {"mode": "automated", "ack_delay": "2s"}, "cool_down": "30s",
    }))  # fmt: skip
    reports = tmp_path / "reports"
    runner = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gameday", str(scenario), "--service", str(declared),
         "--report-dir", str(reports), "--state-dir", str(tmp_path / "runs")],
        cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_until(lambda: '"event": "injected"' in journal_text(reports), 180)
    point_champion(fraud_staging, "1")  # someone's rollback, deployed by the team's step
    deploy = service["deploy"]["command"]
    subprocess.run(deploy, check=True, timeout=120, cwd=fraud_staging)
    _, stderr = runner.communicate(timeout=600)
    _, second = results(reports)["experiments"]
    assert second["baseline"]["served"] == ["1"] and second["baseline"]["restored"] is True
    assert "mlchaos restored 2 first" in " ".join(second["notes"]), second["notes"]
    assert "baseline: 1 served, not 2: restoring 2" in stderr
    assert champion(fraud_staging) == "2" and served(fraud_staging) == "2"


def _redis_port(state: Path) -> int:
    return int(json.loads((state / "ports.json").read_text())["redis"])


def test_two_stagings_run_side_by_side_in_one_game_day_reported_by_service(
    fraud_staging: Path, stack: StackConfig, tmp_path: Path
) -> None:
    """scenarios/two-stagings.yaml: the reference stack's error burst and the fraud team's
    latency spike, each a game day of its own (its load, responders, reports, history
    entry), at the same time; one results.json, junit.xml and report.html group them."""
    shipped = (ROOT / "scenarios" / "two-stagings.yaml").read_text()
    scenario = tmp_path / "two-stagings.yaml"
    scenario.write_text(
        shipped.replace("../experiments/", f"{ROOT}/experiments/")
        .replace("../examples/", f"{ROOT}/examples/")
        .replace("../.mlchaos/example/service.yaml", str(fraud_staging / "service.yaml"))
    )
    reports = tmp_path / "reports"
    done = mlchaos("gameday", str(scenario), "--state-dir", str(stack.state_dir),
                   "--report-dir", str(reports))  # fmt: skip
    found = results(reports)  # the combined run's: the services' own are a level down
    by_service = {s["name"]: s for s in found["services"]}
    assert done.returncode == 0, (by_service, done.stdout[-3000:], done.stderr[-3000:])
    assert found["verdict"] == "pass" and found["parallel"] is True
    assert [(e["service"], e["name"], e["verdict"]) for e in found["experiments"]] == [
        ("mlchaos-reference", "error-burst", "pass"),
        ("fraud-staging", "fraud-latency-spike", "pass"),
    ]
    run = next(reports.glob("two-stagings-*"))
    own = {}
    for name, service in by_service.items():
        assert service["exit_code"] == 0 and service["load"]["requests"] > 0, service
        own[name] = json.loads((run / service["run_dir"] / "results.json").read_text())
        assert own[name]["service"] == name and (run / service["run_dir"] / "report.html").exists()
    # at the same time: each began before the other ended
    spans = [(datetime.fromisoformat(d["started_at"]), datetime.fromisoformat(d["finished_at"]))
             for d in own.values()]  # fmt: skip
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
    # each service's progress, prefixed with its name; the combined table names both
    assert "[mlchaos-reference] " in done.stderr and "[fraud-staging] " in done.stderr
    assert "[" not in done.stdout  # stdout keeps one table: the combined one
    assert "mlchaos-reference/error-burst" in done.stdout
    assert "fraud-staging/fraud-latency-spike" in done.stdout
    html = (run / "report.html").read_text()
    assert html.count('<tr class="service-group"') == 2
    # each service's game day joined the one history, under its own name
    trends = History(reports / "history.sqlite").trends()
    assert {(t.service, t.experiment) for t in trends} == {
        ("mlchaos-reference", "error-burst"), ("fraud-staging", "fraud-latency-spike")}  # fmt: skip
    assert secrets_in(run, fraud_staging) == []  # the children's folders and outputs too
