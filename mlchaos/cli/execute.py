"""Run a scenario against the reference stack and write its reports: shared by `run` and
`gameday`, which differ only in where the scenario comes from."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from mlchaos.cli.common import EXIT, new_stack_config, say, show_progress
from mlchaos.engine.gameday import GamedayResult, Responder, run_gameday
from mlchaos.loader import load_service
from mlchaos.observe.pagerduty import AutomatedResponder, Incidents, events_client
from mlchaos.report.render import ReportOptions, render_run
from mlchaos.report.results import write_results
from mlchaos.report.table import summary_table
from mlchaos.runbooks.steps import runbook_steps
from mlchaos.schema import Experiment, Scenario
from mlchaos.service import Service
from mlchaos.stack import supervisor
from mlchaos.stack.config import StackConfig


def execute(
    scenario: Scenario,
    experiments: list[Experiment],
    report_dir: Path,
    state_dir: Path,
    keep_stack: bool,
    verbose: bool,
    service_file: Path | None = None,
    report_options: ReportOptions | None = None,
) -> None:
    show_progress(verbose)
    signal.signal(signal.SIGTERM, _interrupt)  # run `finally` blocks: stop load, revert, stop
    if service_file is not None:
        service, cfg, started_stack = load_service(service_file), None, False
    else:
        cfg, started_stack = _ensure_stack(state_dir)
        service = Service.from_stack(cfg)
    try:
        responder = None
        if scenario.responders.mode == "automated":
            responder = _responder(service, cfg, scenario.responders.ack_delay)
        else:
            say("responders: human — acknowledge pages in PagerDuty; mitigate per the runbook")
        open_runs = (cfg.state_dir if cfg else state_dir) / "runs"
        result = run_gameday(scenario, experiments, service, report_dir, responder, open_runs)
    finally:
        if cfg is not None and started_stack and not keep_stack:
            supervisor.down(cfg)
            say("stopped the reference stack this run started (keep it with --keep-stack)")
    _report(result, report_options or ReportOptions())
    raise SystemExit(130 if result.interrupted else EXIT[result.verdict])


def _ensure_stack(state_dir: Path) -> tuple[StackConfig, bool]:
    """Use the stack in ``state_dir`` if any of it runs, else start one.

    A partly broken stack is used as it is: the game day reports what it cannot observe as
    inconclusive, rather than hiding the breakage by restarting things.
    """
    if (state_dir / "stack.json").exists():
        cfg = StackConfig.load(state_dir)
        if supervisor.any_running(cfg):
            return cfg, False
    say("starting the reference stack")
    cfg = new_stack_config(state_dir, ())
    supervisor.up(cfg, progress=lambda line: say(f"  {line}"))
    return cfg, True


def _responder(
    service: Service, cfg: StackConfig | None, ack_delay_s: float
) -> Callable[[datetime], Responder] | None:
    """Acks pages after ``ack_delay_s`` through the official client, then runs the runbook's
    automated steps. The routing key is read from the stack's secrets or the environment and
    kept in memory only."""
    key = cfg.routing_key() if cfg else os.environ.get(service.routing_key_env or "", "")
    if not key:
        say(f"no routing key in ${service.routing_key_env}: nobody will acknowledge pages")
        return None

    def start(started: datetime) -> Responder:
        incidents = Incidents(service.pagerduty_url, service.pagerduty_ca_file)
        client = events_client(key, service.pagerduty_url, service.pagerduty_ca_file)
        return AutomatedResponder(
            incidents,
            client,
            service.pagerduty_service,
            ack_delay_s,
            started,
            steps=runbook_steps(service),
        ).start()

    return start


def _report(result: GamedayResult, options: ReportOptions) -> None:
    document = result.as_dict()
    paths = [write_results(document, result.run_dir)]
    paths += render_run(document, result.run_dir, result.run_dir, options)
    click.echo("")
    click.echo(summary_table(document))
    click.echo("\nreports: " + "\n         ".join(str(p) for p in paths))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    logging.getLogger("mlchaos.progress").warning("SIGTERM: stopping, reverting any fault")
    raise KeyboardInterrupt
