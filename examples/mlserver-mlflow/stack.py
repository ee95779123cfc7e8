"""Start and stop the fraud team's staging: MLflow, two MLServers (stable and candidate) behind
an HAProxy router, Prometheus, Alertmanager, the team's rollback and canary controllers, and
from mlchaos only its chaos gateway and PagerDuty receiver.

    python stack.py up   --state DIR --mlchaos PATH/TO/mlchaos [--base-port 21000]
    python stack.py down --state DIR
    python stack.py sabotage --state DIR [--without-rule NAME | --no-rules] [--no-model]
                             [--no-controller | --broken-deploy]
                             [--broken-analysis | --failure-limit N] [--log-raw-requests]
                             [--lenient-gate]

`up` writes DIR/service.yaml, the service file mlchaos reads, and returns once every part
answers. Prometheus and Alertmanager take basic auth over TLS (their own
``--web.config.file``): the password is in DIR/monitoring-password, the CA in DIR/tls/cert.pem,
and mlchaos reads the password from ``$FRAUD_MONITORING_PASSWORD``. Pages are read back through
PagerDuty's REST API (the receiver's, under /rest) with the token in DIR/pagerduty-api-token,
which mlchaos reads from ``$FRAUD_PAGERDUTY_TOKEN``.

Run it with the Python that has the team's packages (requirements.txt): MLServer,
MLflow and scikit-learn. `sabotage` breaks the running stack the way game days should catch
(and puts it right when given no option): ``--without-rule NAME`` reloads Prometheus without
one alert rule (``--no-rules``: without any), ``--no-model`` stops MLServer,
``--no-controller`` stops the rollback controller, ``--broken-deploy`` gives the controller a
deploy step that cannot reach MLServer. ``--broken-analysis`` points the canary's analysis at a
metric nobody exports (every measurement inconclusive), ``--failure-limit N`` lets the canary
tolerate N failed measurements per step. ``--log-raw-requests`` turns on the runtime's debug
switch that writes each request's raw parameters (the card, the email) into the inference log.
``--lenient-gate`` loosens the retrain pipeline's approval gate (retrain.py) until anything
passes, and a version trained on poisoned labels becomes champion.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from string import Template

import requests
import yaml

from fraud import write_training

HERE = Path(__file__).resolve().parent
OFFSETS = {
    "gateway": 0, "router": 70, "router_metrics": 71,
    "mlserver": 80, "mlserver_grpc": 81, "mlserver_metrics": 82,
    "candidate": 84, "candidate_grpc": 85, "candidate_metrics": 86,
    "prometheus": 90, "alertmanager": 93, "alertmanager_cluster": 94, "receiver": 443,
    "mlflow": 500, "controller": 600, "canary": 610, "redis": 379,
}  # fmt: skip
REDIS_USERS = ("fraud", "mlchaos")
"""Redis's ACL users: the model server and feature pipeline's, and the one mlchaos acts as."""
START_S = 120.0
GATE = {"max_auc_drop": 0.03, "max_recall_gap": 0.2}
"""The approval gate's thresholds (retrain.py): how far below champion's holdout AUC a new
version may be, and the largest recall gap between channels at the team's review rate."""
LENIENT = {"max_auc_drop": 1.0, "max_recall_gap": 1.0}
"""``sabotage --lenient-gate``: thresholds nothing fails."""
MONITORING_USER = "mlchaos"
ENV_PASSWORD = "FRAUD_MONITORING_PASSWORD"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "sabotage"])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--mlchaos", help="the mlchaos command (for the gateway and receiver)")
    parser.add_argument("--base-port", type=int, default=21000)
    parser.add_argument("--without-rule", action="append", default=[], metavar="NAME")
    parser.add_argument("--no-controller", action="store_true")
    parser.add_argument("--no-rules", action="store_true")
    parser.add_argument("--no-model", action="store_true")
    parser.add_argument("--broken-deploy", action="store_true")
    parser.add_argument("--broken-analysis", action="store_true")
    parser.add_argument("--failure-limit", type=int, metavar="N")
    parser.add_argument("--log-raw-requests", action="store_true")
    parser.add_argument("--lenient-gate", action="store_true")
    args = parser.parse_args()
    state = args.state.resolve()
    if args.action == "down":
        down(state)
        return
    if args.action == "sabotage":
        sabotage(state, args)
        return
    if not args.mlchaos:
        parser.error("up needs --mlchaos")
    found = shutil.which(args.mlchaos)  # the processes start in this folder, not the caller's
    if found is None:
        parser.error(f"--mlchaos {args.mlchaos}: no such program")
    args.mlchaos = str(Path(found).resolve())
    try:
        up(state, args)
    except BaseException:
        down(state)
        raise


def up(state: Path, args: argparse.Namespace) -> None:
    down(state)
    ports = {name: args.base_port + offset for name, offset in OFFSETS.items()}
    state.mkdir(parents=True, exist_ok=True)
    for fresh in ("prometheus", "alertmanager", "models", "candidate-models", "gateway",
                  "receiver", "router", "redis", "feature_repo"):
        shutil.rmtree(state / fresh, ignore_errors=True)
    for server, folder in (("mlserver", "models"), ("candidate", "candidate-models")):
        models = state / folder / "fraud"
        models.mkdir(parents=True)
        for code in ("runtime.py", "fraud.py"):  # the runtime, and the data it knows
            shutil.copy(HERE / code, models / code)
        (state / folder / "settings.json").write_text(json.dumps({
            "host": "127.0.0.1", "http_port": ports[server], "grpc_port": ports[f"{server}_grpc"],
            "metrics_port": ports[f"{server}_metrics"], "parallel_workers": 1,
            "metrics_dir": str(state / folder / ".metrics"), "load_models_at_startup": True,
        }))  # fmt: skip
    key = state / "routing-key"
    if not key.exists():
        _private(key, secrets.token_hex(16))
    token = state / "pagerduty-api-token"  # the REST API token mlchaos reads pages with
    if not token.exists():
        _private(token, secrets.token_urlsafe(20))
    password_file = state / "monitoring-password"
    if not password_file.exists():
        _private(password_file, secrets.token_urlsafe(18))
    password = password_file.read_text().strip()
    ca = ensure_tls(state / "tls")
    monitoring = {"verify": str(ca), "auth": (MONITORING_USER, password)}
    bin_dir = Path(sys.executable).parent
    tracking = f"http://127.0.0.1:{ports['mlflow']}"
    f"http://127.0.0.1:{ports['mlserver']}"

    start(state, "mlflow", [
        str(bin_dir / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{state}/mlflow.db",
        "--default-artifact-root", str(state / "artifacts"), "--no-serve-artifacts",
        "--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1",
    ], lambda: _ok(f"{tracking}/health"))  # fmt: skip
    subprocess.run([sys.executable, str(HERE / "seed.py"), tracking], check=True, cwd=HERE)
    write_training(state / "training")  # the retrain pipeline's snapshot and golden holdout
    write_gate(state)
    start_feature_store(state, ports)
    start_model(state, ports)
    start_router(state, ports)
    start(state, "gateway", [
        args.mlchaos, "gateway", "--upstream", f"http://127.0.0.1:{ports['router']}",
        "--model", "fraud",
        "--port", str(ports["gateway"]), "--state-dir", str(state / "gateway"),
    ], lambda: _ok(f"http://127.0.0.1:{ports['gateway']}/health"))  # fmt: skip
    receiver_ca = state / "receiver" / "tls" / "cert.pem"
    start(state, "receiver", [
        args.mlchaos, "receiver", "--service", "fraud-oncall", "--routing-key-file", str(key),
        "--api-token-file", str(token),
        "--port", str(ports["receiver"]), "--state-dir", str(state / "receiver"),
    ], lambda: receiver_ca.exists() and _ok(
        f"https://127.0.0.1:{ports['receiver']}/health", verify=str(receiver_ca)))  # fmt: skip
    (state / "ports.json").write_text(json.dumps(ports))
    if not args.no_controller:
        start_controller(state, ports, broken_deploy=args.broken_deploy)

    values = {
        **{f"{name}_port": str(port) for name, port in ports.items()},
        "state": str(state), "example": str(HERE), "python": sys.executable,
        "rules": str(state / "prometheus" / "rules.yml"),
        "routing_key": key.read_text().strip(), "receiver_ca": str(receiver_ca),
        "monitoring_user": MONITORING_USER, "monitoring_password_file": str(password_file),
        "monitoring_ca": str(ca), "slo_rules": str(state / "prometheus" / "slo-rules.yml"),
    }  # fmt: skip
    web = {  # Prometheus's and Alertmanager's own web configuration: TLS and basic auth
        "tls_server_config": {"cert_file": str(ca), "key_file": str(ca.with_name("key.pem"))},
        "basic_auth_users": {MONITORING_USER: _bcrypt(password)},
    }
    _private(state / "web.yml", yaml.safe_dump(web))
    (state / "prometheus").mkdir()
    write_rules(state, args.without_rule)
    _render("prometheus.yml", state / "prometheus" / "prometheus.yml", values)
    (state / "alertmanager").mkdir()
    _render("alertmanager.yml", state / "alertmanager" / "alertmanager.yml", values, private=True)
    _render("service.yaml.in", state / "service.yaml", values)
    slo_rules = subprocess.run(  # the burn-rate alerts of the SLOs the service file declares
        [args.mlchaos, "rules", "--service", str(state / "service.yaml")],
        check=True, capture_output=True, text=True, env={**os.environ, ENV_PASSWORD: password},
    )  # fmt: skip
    # only the SLOs' recording rules and burn-rate alerts: the team has its own edge alerts
    groups = yaml.safe_load(slo_rules.stdout)["groups"]
    slo_groups = {"groups": [g for g in groups if str(g["name"]).startswith("slo-")]}
    text = yaml.safe_dump(slo_groups, sort_keys=False)
    (state / "prometheus" / "slo-rules.yml").write_text(text)
    write_canary(state, ports)
    start_canary(state, ports)
    start(state, "prometheus", [
        "prometheus", f"--config.file={state}/prometheus/prometheus.yml",
        f"--storage.tsdb.path={state}/prometheus/data",
        f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--web.enable-lifecycle",
        f"--web.config.file={state}/web.yml",
    ], lambda: _ok(f"https://127.0.0.1:{ports['prometheus']}/-/ready", **monitoring))  # fmt: skip
    start(state, "alertmanager", [
        shutil.which("prometheus-alertmanager") or "alertmanager",
        f"--config.file={state}/alertmanager/alertmanager.yml",
        f"--storage.path={state}/alertmanager/data",
        f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
        f"--web.config.file={state}/web.yml",
        "--cluster.listen-address=",  # clustering holds notifications for ~10 s
    ], lambda: _ok(f"https://127.0.0.1:{ports['alertmanager']}/-/ready", **monitoring))  # fmt: skip
    print(f"fraud staging is up; its service file: {state / 'service.yaml'}")


def sabotage(state: Path, args: argparse.Namespace) -> None:
    """Break the running stack as asked; with no option, put it right."""
    ports = json.loads((state / "ports.json").read_text())
    write_rules(state, ["*"] if args.no_rules else args.without_rule)
    password = (state / "monitoring-password").read_text().strip()
    reload = requests.post(
        f"https://127.0.0.1:{ports['prometheus']}/-/reload", timeout=10,
        verify=str(state / "tls" / "cert.pem"), auth=(MONITORING_USER, password),
    )  # fmt: skip
    reload.raise_for_status()
    stop(state, "controller")
    if not args.no_controller:
        start_controller(state, ports, broken_deploy=args.broken_deploy)
    write_canary(state, ports, args.broken_analysis, args.failure_limit)
    switch = state / "inference" / "log-raw-requests"  # the runtime reads it at each request
    if args.log_raw_requests:
        switch.touch()
    else:
        switch.unlink(missing_ok=True)
    write_gate(state, lenient=args.lenient_gate)
    if args.no_model:
        stop(state, "mlserver")
    elif "mlserver" not in _pids(state):
        start_model(state, ports)
    broken = [f"rule {name} removed" for name in args.without_rule]
    broken += ["every rule removed"] if args.no_rules else []
    broken += ["MLServer stopped"] if args.no_model else []
    broken += ["controller stopped"] if args.no_controller else []
    broken += ["the controller's deploy step broken"] if args.broken_deploy else []
    broken += ["the canary's analysis query broken"] if args.broken_analysis else []
    broken += ["raw requests logged"] if args.log_raw_requests else []
    broken += ["the approval gate lets anything through"] if args.lenient_gate else []
    if args.failure_limit is not None:
        broken += [f"the canary tolerates {args.failure_limit} failed measurements per step"]
    print("sabotaged: " + ", ".join(broken) if broken else "stack restored")


def write_gate(state: Path, lenient: bool = False) -> None:
    """The approval gate's thresholds, which retrain.py reads at each run."""
    staged = state / "training" / "gate.json.new"
    staged.write_text(json.dumps(LENIENT if lenient else GATE))
    staged.replace(state / "training" / "gate.json")


def start_feature_store(state: Path, ports: dict[str, int]) -> None:
    """Redis (Debian's) as Feast's online store, with an ACL user per client and no default
    user; then the feature pipeline: the customer table, ``feast apply``, ``feast materialize``."""
    redis = state / "redis"
    redis.mkdir()
    users = ["user default off"]
    for user in REDIS_USERS:
        password_file = state / f"redis-{user}-password"
        if not password_file.exists():
            _private(password_file, secrets.token_urlsafe(18))
        rights = "~* &* +@all" if user == "mlchaos" else "~* +@read +@write +@connection"
        users.append(f"user {user} on >{password_file.read_text().strip()} {rights}")
    _private(redis / "users.acl", "\n".join(users) + "\n")
    start(state, "redis", [
        shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(ports["redis"]),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(redis),
        "--aclfile", str(redis / "users.acl"),
    ], lambda: _redis_ready(state, ports))  # fmt: skip
    repo = state / "feature_repo"
    repo.mkdir()
    shutil.copy(HERE / "feature_repo" / "definitions.py", repo / "definitions.py")
    _render("feature_repo/feature_store.yaml.in", repo / "feature_store.yaml", {
        "state": str(state), "redis_port": str(ports["redis"]), "redis_user": "fraud",
    })  # fmt: skip
    subprocess.run([sys.executable, str(HERE / "materialize.py"), str(repo)], check=True,
                   cwd=HERE)  # fmt: skip


def _redis_ready(state: Path, ports: dict[str, int]) -> bool:
    import redis

    password = (state / "redis-fraud-password").read_text().strip()
    client = redis.Redis(port=ports["redis"], username="fraud", password=password,
                         socket_timeout=1)  # fmt: skip
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def start_model(state: Path, ports: dict[str, int]) -> None:
    """The two MLServers, then the team's deploy step: stable serves what champion names; the
    candidate serves nothing until the canary controller deploys a candidate to it."""
    mlserver = f"http://127.0.0.1:{ports['mlserver']}"
    binary = str(Path(sys.executable).parent / "mlserver")
    (state / "supervisor").mkdir(exist_ok=True)
    (state / "inference").mkdir(exist_ok=True)  # the team's inference log
    if not (state / "pseudonym-key").exists():
        _private(state / "pseudonym-key", secrets.token_hex(32))
    _render("supervisord.conf", state / "supervisor" / "supervisord.conf",
            {"state": str(state), "example": str(HERE), "mlserver": binary})  # fmt: skip
    for name, folder in (("mlserver", "models"), ("candidate", "candidate-models")):
        if name in _pids(state):
            continue  # still up (`sabotage --no-model` stops only the stable one)
        url = f"http://127.0.0.1:{ports[name]}"
        command = [binary, "start", str(state / folder)]
        if name == "mlserver":  # under the team's supervisor, which restarts it when it dies
            command = [str(Path(sys.executable).parent / "supervisord"), "-n", "-c",
                       str(state / "supervisor" / "supervisord.conf")]  # fmt: skip
        start(state, name, command, lambda url=url: _ok(f"{url}/v2/health/ready"),  # type: ignore[misc]
              env={"OMP_NUM_THREADS": "1",  # one thread per prediction: OpenMP queues
                   "FRAUD_FEATURE_REPO": str(state / "feature_repo"),
                   "FRAUD_REDIS_PASSWORD_FILE": str(state / "redis-fraud-password"),
                   "FRAUD_INFERENCE_LOG": str(state / "inference" / "inference.jsonl"),
                   "FRAUD_PSEUDONYM_KEY_FILE": str(state / "pseudonym-key")})  # fmt: skip
    tracking = f"http://127.0.0.1:{ports['mlflow']}"
    deploy = [sys.executable, str(HERE / "deploy.py"), tracking, mlserver, str(state / "models")]
    subprocess.run(deploy, check=True, cwd=HERE)


def start_router(state: Path, ports: dict[str, int]) -> None:
    """HAProxy (Debian's), every request to stable until the canary controller moves weights."""
    (state / "router").mkdir(exist_ok=True)
    _render("haproxy.cfg", state / "router" / "haproxy.cfg",
            {"state": str(state), **{f"{n}_port": str(p) for n, p in ports.items()}})  # fmt: skip
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"  # Debian's, in sbin
    start(state, "router", [haproxy, "-db", "-f", str(state / "router" / "haproxy.cfg")],
          lambda: _ok(f"http://127.0.0.1:{ports['router_metrics']}/metrics"))  # fmt: skip


def write_canary(
    state: Path, ports: dict[str, int], broken_analysis: bool = False,
    failure_limit: int | None = None,
) -> None:  # fmt: skip
    """The team's canary analysis (canary.yaml) with where its Prometheus is, as sabotaged."""
    config = yaml.safe_load((HERE / "canary.yaml").read_text())
    analysis = config["analysis"]
    analysis.update(prometheus=f"https://127.0.0.1:{ports['prometheus']}",
                    user=MONITORING_USER, ca_file=str(state / "tls" / "cert.pem"))  # fmt: skip
    if broken_analysis:  # a renamed metric: the query finds nothing, for ever
        analysis["query"] = analysis["query"].replace("fraud_flagged_", "fraud_flags_")
    if failure_limit is not None:
        analysis["failureLimit"] = failure_limit
    (state / "canary.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def start_canary(state: Path, ports: dict[str, int]) -> None:
    """The team's canary controller (canary.py)."""
    password = (state / "monitoring-password").read_text().strip()
    start(state, "canary", [
        sys.executable, str(HERE / "canary.py"), str(ports["canary"]),
        f"http://127.0.0.1:{ports['mlflow']}",
        f"http://127.0.0.1:{ports['mlserver']}", str(state / "models"),
        f"http://127.0.0.1:{ports['candidate']}", str(state / "candidate-models"),
        str(state / "router" / "admin.sock"), str(state / "canary.yaml"),
        str(state / "canary.jsonl"),
    ], lambda: _ok(f"http://127.0.0.1:{ports['canary']}/status"),
        env={ENV_PASSWORD: password})  # fmt: skip


def write_rules(state: Path, without: list[str]) -> None:
    rules = yaml.safe_load((HERE / "rules.yml").read_text())
    for group in rules["groups"]:
        group["rules"] = [
            r for r in group["rules"] if r["alert"] not in without and "*" not in without
        ]
    (state / "prometheus" / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))


def start_controller(state: Path, ports: dict[str, int], broken_deploy: bool = False) -> None:
    """The team's rollback controller; with ``broken_deploy``, its deploy step points at a port
    where no MLServer listens, so it moves the alias but cannot deploy."""
    mlserver = f"http://127.0.0.1:{ports['mlserver']}"
    target = f"http://127.0.0.1:{ports['gateway'] + 1}" if broken_deploy else mlserver
    start(state, "controller", [
        sys.executable, str(HERE / "controller.py"), str(ports["controller"]),
        f"http://127.0.0.1:{ports['mlflow']}", target, str(state / "models"),
        str(state / "feature_repo"), str(state / "controller.jsonl"),
    ], lambda: _ok(f"http://127.0.0.1:{ports['controller']}/"))  # fmt: skip


def start(
    state: Path, name: str, command: list[str], ready: Callable[[], bool],
    env: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """Start ``command`` in its own session, logging to STATE/logs; wait until ``ready``."""
    (state / "logs").mkdir(exist_ok=True)
    log = (state / "logs" / f"{name}.log").open("ab")
    process = subprocess.Popen(
        command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=HERE,
        start_new_session=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    pids = _pids(state)
    pids[name] = process.pid
    (state / "pids.json").write_text(json.dumps(pids))
    deadline = time.monotonic() + START_S
    while not ready():
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}; see {log.name}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not answer in {START_S:g}s; see {log.name}")
        time.sleep(0.2)
    print(f"{name} is up (pid {process.pid})", flush=True)


def down(state: Path) -> None:
    """Stop every process `up` started, each with its whole session, all at once."""
    _terminate(list(_pids(state).values()))
    (state / "pids.json").unlink(missing_ok=True)


def stop(state: Path, name: str) -> None:
    pids = _pids(state)
    pid = pids.pop(name, None)
    if pid is None:
        return
    _terminate([pid])
    if state.exists():
        (state / "pids.json").write_text(json.dumps(pids))


def _terminate(pids: list[int]) -> None:
    """SIGTERM to each session, then SIGKILL to those still up 10 s later."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except OSError:
        return False
    return True


def _pids(state: Path) -> dict[str, int]:
    try:
        return dict(json.loads((state / "pids.json").read_text()))
    except (OSError, ValueError):
        return {}


def _ok(url: str, verify: str | bool = True, auth: tuple[str, str] | None = None) -> bool:
    try:
        return requests.get(url, timeout=2, verify=verify, auth=auth).status_code == 200
    except requests.RequestException:
        return False


def ensure_tls(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (its own CA), made once with openssl; its path.
    Its key is key.pem beside it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not (cert.exists() and key.exists()):
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "825",
            "-subj", "/CN=fraud staging monitoring",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ], check=True, capture_output=True)  # fmt: skip
        key.chmod(0o600)
    return cert


def _bcrypt(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def _render(name: str, path: Path, values: dict[str, str], private: bool = False) -> None:
    text = Template((HERE / name).read_text()).substitute(values)
    if private:
        _private(path, text)
    else:
        path.write_text(text)


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


if __name__ == "__main__":
    main()
