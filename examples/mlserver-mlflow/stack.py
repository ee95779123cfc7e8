"""Start and stop the fraud team's staging: MLflow, MLServer, Prometheus, Alertmanager, the
team's rollback controller, and from mlchaos only its chaos gateway and PagerDuty receiver.

    python stack.py up   --state DIR --mlchaos PATH/TO/mlchaos [--base-port 21000]
    python stack.py down --state DIR
    python stack.py sabotage --state DIR [--without-rule NAME | --no-rules] [--no-model]
                             [--no-controller | --broken-deploy]

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
deploy step that cannot reach MLServer.
"""

from __future__ import annotations

import argparse
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

HERE = Path(__file__).resolve().parent
OFFSETS = {
    "gateway": 0, "mlserver": 80, "mlserver_grpc": 81, "mlserver_metrics": 82,
    "prometheus": 90, "alertmanager": 93, "alertmanager_cluster": 94, "receiver": 443,
    "mlflow": 500, "controller": 600,
}  # fmt: skip
START_S = 120.0
MONITORING_USER = "mlchaos"


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
    for fresh in ("prometheus", "alertmanager", "models", "gateway", "receiver"):
        shutil.rmtree(state / fresh, ignore_errors=True)
    models = state / "models" / "fraud"
    models.mkdir(parents=True)
    shutil.copy(HERE / "runtime.py", models / "runtime.py")
    (state / "models" / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": ports["mlserver"], "grpc_port": ports["mlserver_grpc"],
        "metrics_port": ports["mlserver_metrics"], "parallel_workers": 1,
        "metrics_dir": str(state / "models" / ".metrics"), "load_models_at_startup": True,
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
    mlserver = f"http://127.0.0.1:{ports['mlserver']}"

    start(state, "mlflow", [
        str(bin_dir / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{state}/mlflow.db",
        "--default-artifact-root", str(state / "artifacts"), "--no-serve-artifacts",
        "--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1",
    ], lambda: _ok(f"{tracking}/health"))  # fmt: skip
    subprocess.run([sys.executable, str(HERE / "seed.py"), tracking], check=True, cwd=HERE)
    start_model(state, ports)
    start(state, "gateway", [
        args.mlchaos, "gateway", "--upstream", mlserver, "--model", "fraud",
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
        "monitoring_ca": str(ca),
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
    if args.no_model:
        stop(state, "mlserver")
    elif "mlserver" not in _pids(state):
        start_model(state, ports)
    broken = [f"rule {name} removed" for name in args.without_rule]
    broken += ["every rule removed"] if args.no_rules else []
    broken += ["MLServer stopped"] if args.no_model else []
    broken += ["controller stopped"] if args.no_controller else []
    broken += ["the controller's deploy step broken"] if args.broken_deploy else []
    print("sabotaged: " + ", ".join(broken) if broken else "stack restored")


def start_model(state: Path, ports: dict[str, int]) -> None:
    """MLServer, then the team's deploy step: it serves what champion names."""
    mlserver = f"http://127.0.0.1:{ports['mlserver']}"
    start(state, "mlserver", [str(Path(sys.executable).parent / "mlserver"), "start",
                              str(state / "models")],
          lambda: _ok(f"{mlserver}/v2/health/ready"),
          env={"OMP_NUM_THREADS": "1"})  # one thread per prediction: OpenMP queues  # fmt: skip
    tracking = f"http://127.0.0.1:{ports['mlflow']}"
    deploy = [sys.executable, str(HERE / "deploy.py"), tracking, mlserver, str(state / "models")]
    subprocess.run(deploy, check=True, cwd=HERE)


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
        str(state / "controller.jsonl"),
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
    """Stop every process `up` started, each with its whole session."""
    for name in list(_pids(state)):
        stop(state, name)
    (state / "pids.json").unlink(missing_ok=True)


def stop(state: Path, name: str) -> None:
    pids = _pids(state)
    pid = pids.pop(name, None)
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if state.exists():
        (state / "pids.json").write_text(json.dumps(pids))


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
