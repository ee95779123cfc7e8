"""Start, stop and inspect the reference stack: `mlchaos up | status | down`.

Each component runs in its own session, so the stack outlives the command that started it.
PIDs and URLs are kept in the state directory; `down` stops every process it recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from mlchaos.errors import PortInUse, StackError
from mlchaos.reference import monitoring, require
from mlchaos.reference import service as reference_service
from mlchaos.reference.config import COMPONENTS, StackConfig
from mlchaos.reference.registry import Registry
from mlchaos.rules import RuleSettings, alert_rules, render_rules

__all__ = [
    "ESCALATION_POLICY",
    "HEALTH_PATHS",
    "READY_TIMEOUT_S",
    "ComponentStatus",
    "Progress",
    "any_running",
    "down",
    "ensure_running",
    "reload_rules",
    "rule_settings",
    "start_component",
    "status",
    "stop_component",
    "up",
]

READY_TIMEOUT_S = 20.0
HEALTH_PATHS = {
    "registry": "/health",
    "model-server": "/v2/health/ready",
    "gateway": "/health",
    "pagerduty": "/health",
    "rollback-controller": "/health",
    "fallback-controller": "/health",
    "canary-controller": "/health",
    "prometheus": "/-/ready",
    "alertmanager": "/-/ready",
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool


def ensure_running(
    state_dir: Path, progress: Progress = lambda _: None
) -> tuple[StackConfig, bool]:
    """The stack in ``state_dir`` if any of it runs, else a new one started there; and whether
    this call started it (then the caller stops it when done).

    A partly broken stack is used as it is: a game day reports what it cannot observe as
    inconclusive, rather than hiding the breakage by restarting things.
    """
    if (state_dir / "stack.json").exists():
        cfg = StackConfig.load(state_dir)
        if any_running(cfg):
            return cfg, False
    progress("starting the reference stack")
    cfg = StackConfig(state_dir=state_dir.resolve())
    up(cfg, progress=lambda line: progress(f"  {line}"))
    return cfg, True


def up(cfg: StackConfig, progress: Progress = lambda _: None) -> list[ComponentStatus]:
    """Start every component and wait until all answer their health checks."""
    require()
    if any_running(cfg):
        raise StackError(f"the stack in {cfg.state_dir} is already running; see `mlchaos status`")
    for component in COMPONENTS:
        _ensure_port_free(cfg, component)
    cfg.save()
    _prepare(cfg, progress)
    pids: dict[str, int] = {}
    try:
        for component in COMPONENTS:
            pids[component] = _launch(cfg, component).pid
        _write_pids(cfg, pids)
        _wait_ready(cfg, pids, progress)
    except BaseException:
        _stop(pids)
        _write_pids(cfg, {})
        raise
    return status(cfg)


def down(cfg: StackConfig) -> list[str]:
    """Stop every recorded process; return the names of those that were running."""
    pids = _pids(cfg)
    running = [name for name, pid in pids.items() if _alive(pid)]
    _stop(pids)
    _write_pids(cfg, {})
    return running


def stop_component(cfg: StackConfig, component: str) -> None:
    """Stop one component, as an outage would; `start_component` brings it back."""
    pids = _pids(cfg)
    _stop({component: pids.pop(component)})
    _write_pids(cfg, pids)


def start_component(cfg: StackConfig, component: str) -> None:
    _ensure_port_free(cfg, component)
    pids = {**_pids(cfg), component: _launch(cfg, component).pid}
    _write_pids(cfg, pids)
    _wait_ready(cfg, {component: pids[component]}, lambda _: None)


def status(cfg: StackConfig) -> list[ComponentStatus]:
    pids = _pids(cfg)
    with ThreadPoolExecutor(len(COMPONENTS)) as pool:
        health = dict(
            zip(COMPONENTS, pool.map(lambda c: _healthy(cfg, c), COMPONENTS), strict=True)
        )
    return [
        ComponentStatus(c, cfg.url(c), pids.get(c) if _alive(pids.get(c)) else None, health[c])
        for c in COMPONENTS
    ]


def any_running(cfg: StackConfig) -> bool:
    """Whether any process recorded for this stack is alive."""
    return any(_alive(pid) for pid in _pids(cfg).values())


# -- preparation ---------------------------------------------------------------------------


ESCALATION_POLICY = """\
# The reference on-call's escalation policy, as the receiver applies it (delays in staging
# time: 0.1 min is 6 s). Delete this file and pages no longer escalate.
name: model-oncall escalation
num_loops: 0
escalation_rules:
  - {escalation_delay_in_minutes: 0.1, targets: [model-oncall-primary]}
  - {escalation_delay_in_minutes: 0.1, targets: [ml-platform-lead]}
"""


def _prepare(cfg: StackConfig, progress: Progress) -> None:
    registry = Registry(cfg.registry_dir)
    from mlchaos.reference import dataset, training  # numpy, scikit-learn: only at start

    if training.bootstrap(registry, cfg.model_name):
        progress("trained the reference models v1 and v2 and registered the bad versions")
    from mlchaos.receiver.tls import ensure_certificate  # cryptography: only at start

    cert, _ = ensure_certificate(cfg.tls_dir, cfg.host)
    _archive_incidents(cfg)
    held = json.loads(cfg.secrets_path.read_text()) if cfg.secrets_path.exists() else {}
    if "routing_keys" not in held or "api_tokens" not in held:
        held.setdefault("routing_keys", {cfg.pagerduty_service: secrets.token_hex(16)})
        held.setdefault("api_tokens", [secrets.token_hex(20)])  # PagerDuty's REST API, /rest
        _private(cfg.secrets_path, json.dumps(held))
    _private(cfg.routing_key_path, cfg.routing_key())
    _private(cfg.api_token_path, cfg.api_token())
    cfg.escalation_policy_path.write_text(ESCALATION_POLICY)
    dataset.write_replay(cfg.traffic_path)
    from mlchaos.reference.canary_controller import default_settings  # FastAPI: only at start

    cfg.canary_settings_path.write_text(default_settings(cfg.model_name))
    reference_service.write(cfg)
    rules = cfg.state_dir / "prometheus" / "rules.yml"
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text(render_rules(rule_settings(cfg)))
    _render_runbooks(cfg)
    monitoring.write_yaml(
        cfg.state_dir / "prometheus" / "prometheus.yml", monitoring.prometheus_config(cfg, rules)
    )
    monitoring.write_yaml(
        cfg.state_dir / "alertmanager" / "alertmanager.yml",
        monitoring.alertmanager_config(cfg, cfg.routing_key(), cert),
        private=True,
    )


def rule_settings(cfg: StackConfig) -> RuleSettings:
    """The stack's rules link each alert to the runbook rendered for it on this machine."""
    return RuleSettings(
        model=cfg.model_name,
        alert_prefix=cfg.alert_prefix,
        runbook_base_url=cfg.runbook_dir.resolve().as_uri(),
        keep_firing_for="5s",  # past group_wait (1 s) with room for a busy machine
    )


def _render_runbooks(cfg: StackConfig) -> None:
    from mlchaos.runbooks.catalogue import render_runbooks, write_runbooks

    service = reference_service.service(cfg)
    write_runbooks(render_runbooks(service, rule_settings(cfg)), cfg.runbook_dir)


def _private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _archive_incidents(cfg: StackConfig) -> None:
    """Start the receiver with no open incident. Alertmanager starts with fresh state, so an
    incident left open by a previous run would swallow the next page by deduplication."""
    log = cfg.state_dir / "incidents.jsonl"
    if log.exists():
        archive = cfg.state_dir / "incidents-archive"
        archive.mkdir(exist_ok=True)
        log.rename(archive / f"incidents-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")


def _command(cfg: StackConfig, component: str) -> list[str]:
    listen = f"--web.listen-address={cfg.host}:{cfg.ports[component]}"
    if component == "prometheus":
        data = cfg.state_dir / "prometheus" / "data"
        shutil.rmtree(data, ignore_errors=True)  # every stack starts with fresh series
        return [
            _binary("prometheus"),
            f"--config.file={cfg.state_dir / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            listen,
            "--storage.tsdb.retention.time=1d",
        ]
    if component == "alertmanager":
        data = cfg.state_dir / "alertmanager" / "data"
        shutil.rmtree(data, ignore_errors=True)
        return [
            _binary("prometheus-alertmanager", "alertmanager"),
            f"--config.file={cfg.state_dir / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={data}",
            listen,
            "--cluster.listen-address=",  # clustering holds notifications for ~10 s
        ]
    return [sys.executable, "-m", "mlchaos.reference.serve", component, str(cfg.state_dir)]


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise StackError(
        f"{names[0]} is not installed; run `make setup`, or `apt-get install {names[0]}` on Debian"
    )


def _launch(cfg: StackConfig, component: str) -> subprocess.Popen[bytes]:
    logs = cfg.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # One OpenMP thread: per-request predictions gain nothing from more on a small machine,
    # and oversubscribed threads showed up as latency spikes.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with (logs / f"{component}.log").open("ab") as log:
        return subprocess.Popen(
            _command(cfg, component),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cfg.state_dir,
            env=env,
        )


def reload_rules(cfg: StackConfig, without: frozenset[str] = frozenset()) -> None:
    """Rewrite the alert rules, leaving out ``without``, and make Prometheus reload them.

    Game days use it to show what happens when a detection is missing.
    """
    rules = alert_rules(rule_settings(cfg))
    for group in rules["groups"]:
        group["rules"] = [r for r in group["rules"] if r["alert"] not in without]
    (cfg.state_dir / "prometheus" / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    _signal_group(_pids(cfg)["prometheus"], signal.SIGHUP)


def _ensure_port_free(cfg: StackConfig, component: str) -> None:
    port = cfg.ports[component]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do, so that TIME_WAIT leftovers do not count as in use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((cfg.host, port))
        except OSError as exc:
            raise PortInUse(
                f"port {port} for {component} is already in use on {cfg.host}; stop what holds "
                f"it, or choose another with `mlchaos up --port {component}=PORT`"
            ) from exc


def _wait_ready(cfg: StackConfig, pids: dict[str, int], progress: Progress) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = set(pids)
    while waiting:
        for component in sorted(waiting):
            if not _alive(pids[component]):
                raise StackError(
                    f"{component} exited during start-up:\n{_log_tail(cfg, component)}"
                )
            if _healthy(cfg, component):
                waiting.discard(component)
                progress(f"{component} ready at {cfg.url(component)}")
        if waiting and time.monotonic() > deadline:
            names = ", ".join(sorted(waiting))
            raise StackError(
                f"not ready after {READY_TIMEOUT_S:g}s: {names}; logs in {cfg.state_dir / 'logs'}"
            )
        if waiting:
            time.sleep(0.1)


def _healthy(cfg: StackConfig, component: str) -> bool:
    verify: str | bool = str(cfg.tls_dir / "cert.pem") if component == "pagerduty" else True
    try:
        url = cfg.url(component) + HEALTH_PATHS[component]
        return requests.get(url, timeout=1, verify=verify).status_code == 200
    except (requests.RequestException, OSError):
        return False


def _log_tail(cfg: StackConfig, component: str, lines: int = 15) -> str:
    path = cfg.state_dir / "logs" / f"{component}.log"
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )


# -- processes -------------------------------------------------------------------------------


def _pids_path(cfg: StackConfig) -> Path:
    return cfg.state_dir / "pids.json"


def _pids(cfg: StackConfig) -> dict[str, int]:
    path = _pids_path(cfg)
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _write_pids(cfg: StackConfig, pids: dict[str, int]) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    _pids_path(cfg).write_text(json.dumps(pids))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _stop(pids: dict[str, int], grace_s: float = 5.0) -> None:
    for pid in pids.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids.values():
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
