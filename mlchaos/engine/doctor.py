"""`mlchaos doctor`: is this staging ready for a game day? Each check asks one outside system
one harmless question and says, in one line, what it found and how to fix it.

Nothing is injected and nothing is changed: the model gets one request of the configured
payload, as clients send it, and, when no traffic flows, the payload's requests in order at
10 req/s while the queries are read; hooks are checked for reachability and for the files they
name, never run. Every stop condition is read (one that cannot be read would stop every fault).
Each check can fail. A check that depends on one that failed (a query on an unreachable
Prometheus) is skipped, not failed twice.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests

from mlchaos.access import why
from mlchaos.engine.run import preflight
from mlchaos.errors import AccessRefused, MlchaosError, TargetError
from mlchaos.faults import fault_type, ready
from mlchaos.faults.reach import EDGE_PREFIX, blind_spot
from mlchaos.faults.targets.mlflow import orphans
from mlchaos.observe import adapters
from mlchaos.observe.alertmanager import paging_group_wait
from mlchaos.observe.model import ModelEndpoint
from mlchaos.schema import Experiment, Slo
from mlchaos.schema.service import PRODUCTION, Hook
from mlchaos.schema.units import parse_duration
from mlchaos.service import Service

__all__ = ["SCRIPTS", "WARM_RPS", "Check", "diagnose"]


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    """``ok``, ``FAIL``, ``warn`` (it may be right, but looks like a mistake: exit 0 all the
    same) or ``skip`` (a check it depends on failed)."""
    detail: str
    fix: str = ""

    @property
    def line(self) -> str:
        fix = f" (fix: {self.fix})" if self.fix and self.status in ("FAIL", "warn") else ""
        return f"{self.status:<4} {self.name}: {self.detail}{fix}"


def diagnose(service: Service, experiments: list[Experiment]) -> Iterator[Check]:
    """Every check, in order, each as soon as it is known."""
    yield _environment(service)
    yield _ask("gateway", lambda: _gateway(service), "start `mlchaos gateway --upstream MODEL`, "
               "or set $MLCHAOS_GATEWAY_TOKEN if its admin API wants one")  # fmt: skip
    prometheus = _ask("prometheus", lambda: _prometheus(service), _fix_access("prometheus"))
    yield prometheus
    yield _ask("alertmanager", lambda: _alertmanager(service), _fix_access("alertmanager"))
    yield _pager(service)
    if service.registry_url is not None:
        yield _ask("registry", lambda: _registry(service), "check endpoints.registry and "
                   "versions.alias")  # fmt: skip
        if service.adapters.registry == "mlflow":
            yield _ask("registry lease", lambda: _no_lease(service), "end it: `mlchaos recover "
                       "--service FILE` (it asks a live keeper, or undoes it itself)")  # fmt: skip
    model = _ask("model", lambda: _model(service), "make payload (protocol, features, tensor) "
                 "match what the model takes, or start the model server")  # fmt: skip
    yield model
    hooks = {"rollback hook": service.rollback_hook, "deploy hook": service.deploy_hook}
    if service.rollout is not None:
        hooks["rollout start hook"] = service.rollout.start
        hooks["rollout abort hook"] = service.rollout.abort
    for name, hook in hooks.items():
        if hook is not None:
            yield _hook_check(name, hook, service.hook_dir)
    for experiment in experiments:  # before any load: each fault's dry run
        yield _ask(f"{experiment.name} injectable", functools.partial(
            _injectable, experiment, service), "give the fault what it needs (the reason says "
            "what), or fix the service file")  # fmt: skip
    readable = prometheus.status == "ok"
    if not readable:
        yield Check(
            "queries",
            "skip",
            f"the traffic query, and the alert rules, steady states "
            f"and floors of {len(experiments)} experiment(s): Prometheus cannot be read",
        )
        return
    guards = _guards(service, experiments)
    queries = [service.traffic_query] + [s.query for e in experiments for s in e.steady_state]
    queries += [g.query for _, g in guards]
    if model.status == "ok" and not _have_data(service, queries):
        # Rates over a window need traffic in it: send the payload gently while reading them,
        # as the game day's load would, rather than call an idle staging broken.
        with _gentle_load(service) as sent:
            settle_s = 2 * _longest_window(queries) + 5
            _wait_for(lambda: _have_data(service, queries), settle_s)
            checks = list(_queries(service, experiments, readable, guards))
        yield _warmed(sent)
        yield from checks
    else:
        yield from _queries(service, experiments, readable, guards)


def _queries(
    service: Service, experiments: list[Experiment], readable: bool,
    guards: list[tuple[str, Slo]],
) -> Iterator[Check]:  # fmt: skip
    yield _query("traffic query", service.traffic_slo(0.0), service, readable)
    for where, guard in guards:
        yield _guard(where, guard, service)
    rules: dict[str, float] = {}
    exprs: dict[str, str] = {}
    if readable:
        metrics = adapters.metrics(service)
        rules = metrics.alert_rules()
        exprs = {str(r.get("name")): str(r.get("query", "")) for r in metrics.alerting_rules()}
    for experiment in experiments:
        yield from _experiment(experiment, service, rules, readable)
        reach = _reach(experiment, exprs)
        if reach is not None:
            yield reach


def _reach(experiment: Experiment, exprs: dict[str, str]) -> Check | None:
    """A warning when the expected alert reads only metrics the fault cannot reach."""
    alert, fault = experiment.expect.alert, experiment.fault.type
    if not alert:
        return None
    blind = blind_spot(fault, exprs[alert]) if alert in exprs else None
    if blind is None:
        return None
    return Check(
        f"{experiment.name} reach", "warn",
        f"{alert} reads only {', '.join(blind)}, which a gateway {fault} cannot reach: the "
        "gateway acts before the model, and the model server never sees it",
        f"expect an alert on {EDGE_PREFIX}* (the gateway's metrics), or on a metric measured "
        "in front of the gateway",
    )  # fmt: skip


WARM_RPS = 10.0


def _have_data(service: Service, queries: list[str]) -> bool:
    """Every query has a series, and the traffic query sees traffic."""
    metrics = adapters.metrics(service)
    try:
        return all(metrics.values(q) for q in queries) and any(
            v > 0 for v in metrics.values(service.traffic_query)
        )
    except MlchaosError:
        return False


def _guards(service: Service, experiments: list[Experiment]) -> list[tuple[str, Slo]]:
    """Every stop condition, with where it is declared."""
    found = [("service", g) for g in service.stop_conditions]
    return found + [(e.name, g) for e in experiments for g in e.stop_when]


def _guard(where: str, guard: Slo, service: Service) -> Check:
    """A stop condition that cannot be read stops every fault at once (fail-safe); one that
    is already breached would stop it before anything is measured."""
    name = f"{where} stop condition {guard.name}"
    try:
        values = adapters.metrics(service).values(guard.query)
    except MlchaosError as exc:
        return Check(name, "FAIL", f"cannot be read: {exc}", "fix the PromQL: an unreadable "
                     "guard stops every fault at once")  # fmt: skip
    if not values:
        return Check(name, "FAIL", f"{guard.query} returns no data now", "a guard with no data "
                     "stops every fault at once (fail-safe): check the metric")  # fmt: skip
    worst = [v for v in values if not guard.holds(v)]
    if worst:
        return Check(name, "FAIL", f"{worst[0]:g} now: already breached ({guard.condition})",
                     "a breached guard stops the fault as soon as it is in")  # fmt: skip
    return Check(name, "ok", f"{values[0]:g} now, holds ({guard.condition})")


def _warmed(sent: list[int]) -> Check:
    """The warm-up's requests must have been answered: traffic that failed warms nothing."""
    count, ok = sent
    said = f"no traffic before: sent {count} requests of the payload at {WARM_RPS:g} req/s"
    if count == 0:
        return Check("warm-up", "FAIL", f"{said}; none reached the model",
                     "start the gateway and the model server")  # fmt: skip
    if ok < 0.9 * count:
        return Check("warm-up", "FAIL", f"{said}; only {ok} answered 2xx",
                     "make the payload match what the model takes")  # fmt: skip
    return Check("warm-up", "ok", f"{said} while reading the queries; {ok} answered 2xx")


def _longest_window(queries: list[str]) -> float:
    """The longest range (``[5m]``) the queries read over, in seconds; at most 60."""
    ranges = [
        parse_duration(m) for q in queries for m in re.findall(r"\[(\d+(?:\.\d+)?(?:ms|s|m|h))", q)
    ]
    return min(max(ranges, default=5.0), 60.0)


def _wait_for(condition: Callable[[], bool], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.5)


@contextmanager
def _gentle_load(service: Service) -> Iterator[list[int]]:
    """The payload's requests in order, ``WARM_RPS`` a second, until the block ends (the same
    request over and over would itself be a drift the team's alerts may catch); yields
    ``[sent, answered 2xx]``, counted as it goes."""
    model = ModelEndpoint.of(service)
    bodies = model.payload_requests()
    sent, stop = [0, 0], threading.Event()

    def send() -> None:
        with requests.Session() as session:
            for body in itertools.cycle(bodies):  # in order, as the load replays them
                if stop.wait(1 / WARM_RPS):
                    return
                with contextlib.suppress(TargetError):
                    answer = model.infer(body, timeout_s=5, session=session)
                    sent[0] += 1
                    sent[1] += answer.ok

    thread = threading.Thread(target=send, name="doctor-load", daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join(timeout=10)


def _ask(name: str, probe: Callable[[], str], fix: str) -> Check:
    try:
        return Check(name, "ok", probe())
    except AccessRefused as exc:
        return Check(name, "FAIL", str(exc), fix)
    except (MlchaosError, requests.RequestException, OSError) as exc:
        return Check(name, "FAIL", str(exc) if isinstance(exc, MlchaosError) else why(exc), fix)


def _fix_access(endpoint: str) -> str:
    return (f"check endpoints.{endpoint} (url, basic_auth or bearer_token_env, ca_file) and "
            "that the variable it names is exported")  # fmt: skip


def _environment(service: Service) -> Check:
    if service.environment in PRODUCTION:
        return Check("environment", "FAIL", f"declared {service.environment}: mlchaos refuses "
                     "to inject there", "run against staging, or pass --allow-production "
                     "knowingly")  # fmt: skip
    return Check("environment", "ok", f"declared {service.environment}")


def _gateway(service: Service) -> str:
    faults = adapters.traffic(service).faults()
    return f"{service.gateway_url} answers; {len(faults)} fault(s) active"


def _prometheus(service: Service) -> str:
    adapters.metrics(service).values("vector(1)")
    return f"{service.prometheus_url} answers ({service.prometheus_access.describe()})"


def _alertmanager(service: Service) -> str:
    wait = paging_group_wait(service.alertmanager_url, service.alertmanager_access)
    return (f"{service.alertmanager_url} answers ({service.alertmanager_access.describe()}); "
            f"the paging route waits {wait:g}s")  # fmt: skip


def _pager(service: Service) -> Check:
    if not service.has_pager:
        return Check("pager", "ok", "none configured: no experiment may expect paging")

    def read() -> str:
        pager = adapters.pager(service)
        found = pager.since(service.pagerduty_service, datetime.now(UTC) - timedelta(hours=1))
        adapters.acknowledger(service)  # can mlchaos acknowledge (a key, or REST with a user)?
        return (f"{pager.source} answers for {service.pagerduty_service}; {len(found)} "
                "incident(s) in the last hour")  # fmt: skip

    return _ask("pager", read, "check pagerduty (url, ca_file, rest.token_env, routing key)")


def _registry(service: Service) -> str:
    production = adapters.registry(service).model(service.model).get("production")
    expected = service.expected_production
    if expected is not None and str(production) != expected:
        raise MlchaosError(f"serves version {production}, not {expected} (production_version)")
    return f"{service.registry_url} answers; {service.model} serves version {production}"


def _model(service: Service) -> str:
    if service.payload is None or service.payload_file is None:
        raise MlchaosError("the service file names no payload: the load would send nothing")
    model = ModelEndpoint.of(service)
    answer = model.infer(model.first_request())
    if not answer.ok:
        raise MlchaosError(f"one request of the payload got HTTP {answer.status}: {answer.text}")
    return f"one request of the payload answered {answer.status} at {model.url}"


def _hook_check(name: str, hook: Hook, base: Path | None) -> Check:
    return _ask(name, lambda: _hook(hook, base), "fix the hook's URL or command in the file")


def _hook(hook: Hook, base: Path | None) -> str:
    if hook.http is not None:
        parts = urlsplit(hook.http.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=3):
            pass
        return f"{hook.http.url} accepts connections (not called)"
    assert hook.command is not None
    program, here = hook.command[0], base or Path.cwd()
    found = shutil.which(program) or (str(here / program) if (here / program).is_file() else None)
    if found is None:
        raise MlchaosError(f"{program}: no such program")
    if not os.access(found, os.X_OK):
        raise MlchaosError(f"{program}: not executable")
    missing = [a for a in _paths(hook.command[1:]) if not (here / a).exists()]
    if missing:
        raise MlchaosError(f"{Path(program).name}: {missing[0]}: no such file or folder")
    return f"{program} runs, and the files it names exist (not run)"


def _paths(arguments: tuple[str, ...]) -> list[str]:
    """The arguments that name files: paths and scripts, not options or URLs."""
    return [
        a
        for a in arguments
        if "://" not in a and not a.startswith("-") and ("/" in a or a.endswith(SCRIPTS))
    ]


SCRIPTS = (".py", ".sh", ".bash", ".rb", ".js", ".pl")


def _no_lease(service: Service) -> str:
    assert service.registry_url is not None
    lease = orphans(service.registry_url, service.model)
    if lease is None:
        return f"{service.model} carries no mlchaos lease: no alias is held by a fault"
    keeper = "its keeper still runs" if lease["keeper_alive"] else "its keeper is gone"
    raise MlchaosError(
        f"{service.model} carries mlchaos lease {lease.get('id')}: {lease.get('alias')} moved "
        f"to {lease.get('version')} from {lease.get('replaced')} until {lease.get('expires')}; "
        f"{keeper}"
    )


def _query(name: str, slo: Slo, service: Service, readable: bool) -> Check:
    if not readable:
        return Check(name, "skip", "Prometheus cannot be read")
    try:
        values = adapters.metrics(service).values(slo.query)
    except MlchaosError as exc:
        return Check(name, "FAIL", str(exc), "fix the PromQL")
    if not values:
        return Check(name, "FAIL", f"{slo.query} returns no data now",
                     "check the metric exists and is scraped: no data makes every verdict "
                     "inconclusive")  # fmt: skip
    value = values[0]
    if name == "traffic query":
        if value <= 0:
            return Check(name, "FAIL", f"{value:g} now, while requests were sent through the "
                         "gateway", "the traffic query must count the requests that reach the "
                         "model through the gateway")  # fmt: skip
        return Check(name, "ok", f"{value:g} now")
    held = "holds" if slo.holds(value) else "does NOT hold"
    status = "ok" if slo.holds(value) else "FAIL"
    return Check(name, status, f"{value:g} now, {held} ({slo.condition})",
                 "a steady state that does not hold makes the run inconclusive")  # fmt: skip


def _without_alert(experiment: Experiment) -> str:
    """Who must catch a fault that expects no alert."""
    if experiment.expect.approval is not None:
        return "none expected: the team's approval gate must reject the poisoned retrain"
    if experiment.expect.privacy is not None:
        return "none expected: the canaries must land nowhere the service file names"
    return "a canary: the team's rollout must catch it"


def _experiment(
    experiment: Experiment, service: Service, rules: dict[str, float], readable: bool
) -> Iterator[Check]:
    alert = experiment.expect.alert
    prefix = f"{experiment.name}"
    if not alert:
        yield Check(f"{prefix} alert", "ok", _without_alert(experiment))
    elif not readable:
        yield Check(f"{prefix} alert", "skip", "Prometheus cannot be read")
    elif alert in rules:
        yield Check(f"{prefix} alert", "ok", f"{alert} is a loaded rule (for {rules[alert]:g}s)")
    else:
        yield Check(f"{prefix} alert", "FAIL", f"no loaded alerting rule is named {alert}",
                    "load the rule into Prometheus, or fix expect.detection.alert")  # fmt: skip
    for slo in experiment.steady_state:
        yield _query(f"{prefix} steady state {slo.name}", slo, service, readable)
    if readable:
        yield _ask(f"{prefix} floor", lambda: _floor(experiment, service),
                   "raise the target or shorten the pipeline's intervals")  # fmt: skip


def _injectable(experiment: Experiment, service: Service) -> str:
    """A dry run of the injection: everything it would work out, nothing changed."""
    return ready(fault_type(experiment.fault.type), service, experiment.fault)


def _floor(experiment: Experiment, service: Service) -> str:
    floor = preflight(experiment, service)
    return f"targets are above the pipeline's floor ({floor.explain('time_to_page')})"
