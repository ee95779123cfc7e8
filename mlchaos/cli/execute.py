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

from mlchaos.cli.common import EXIT, GamedayOptions, new_stack_config, say, show_progress
from mlchaos.engine.gameday import GamedayResult, run_gameday
from mlchaos.engine.responders import AutomatedResponders, HumanResponders, Responder
from mlchaos.loader import load_service
from mlchaos.report.render import ReportOptions, render_run
from mlchaos.report.results import write_results
from mlchaos.report.table import summary_table
from mlchaos.runbooks.catalogue import render_runbooks
from mlchaos.schema import Experiment, Responders, Scenario
from mlchaos.service import Service
from mlchaos.stack import supervisor
from mlchaos.stack.config import StackConfig
from mlchaos.stack.rules import RuleSettings


def execute(scenario: Scenario, experiments: list[Experiment], options: GamedayOptions) -> None:
    show_progress(options.verbose)
    signal.signal(signal.SIGTERM, _interrupt)  # run `finally` blocks: stop load, revert, stop
    if options.service_file is not None:
        service, cfg, started_stack = load_service(options.service_file), None, False
    else:
        cfg, started_stack = _ensure_stack(options.state_dir)
        service = Service.from_stack(cfg)
    try:
        responder = _responder(service, cfg, scenario.responders, options.runbook_dir)
        open_runs = (cfg.state_dir if cfg else options.state_dir) / "runs"
        result = run_gameday(
            scenario, experiments, service, options.report_dir, responder, open_runs
        )
    finally:
        if cfg is not None and started_stack and not options.keep_stack:
            supervisor.down(cfg)
            say("stopped the reference stack this run started (keep it with --keep-stack)")
    _report(result, options.report)
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
    service: Service, cfg: StackConfig | None, responders: Responders, runbook_dir: Path | None
) -> Callable[[datetime], Responder] | None:
    """Automated: acks pages after the scenario's delay through the official client, then
    follows the runbook's automated steps. The routing key is read from the stack's secrets or
    the environment and kept in memory only. The runbooks are rendered now, so a broken one
    stops us before any fault is injected."""
    if responders.mode == "human":
        say("responders: human — acknowledge pages in PagerDuty or with `mlchaos ack`, and")
        say("mitigate by following the runbook each page links to; Ctrl-C aborts and reverts")
        return lambda started: HumanResponders(service)
    key = cfg.routing_key() if cfg else os.environ.get(service.routing_key_env or "", "")
    if not key:
        say(f"no routing key in ${service.routing_key_env}: nobody will acknowledge pages")
        return None
    settings = supervisor.rule_settings(cfg) if cfg else RuleSettings(model=service.model)
    books = render_runbooks(service, settings, runbook_dir)

    def start(started: datetime) -> Responder:
        return AutomatedResponders(
            service, key, responders.ack_delay, books, started, settings.alert_prefix
        )

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
