"""Run a scenario against a service (the reference stack by default) and write its reports:
shared by `run` and `gameday`, which differ only in where the scenario comes from."""

from __future__ import annotations

import dataclasses
import signal

import click

from mlchaos.cli.common import GamedayOptions, reference_service, say, show_progress
from mlchaos.engine.gameday import GamedayResult, run_gameday
from mlchaos.engine.interrupts import INTERRUPTS
from mlchaos.engine.responders import responders_for
from mlchaos.errors import InputError
from mlchaos.loader import load_service
from mlchaos.report.history import record
from mlchaos.report.render import write_reports
from mlchaos.report.table import summary_table
from mlchaos.rundir import OPEN_RUNS
from mlchaos.schema import Experiment, Scenario
from mlchaos.schema.service import PRODUCTION
from mlchaos.service import Service
from mlchaos.vocabulary import EXIT_OF, Exit

__all__ = ["execute", "guard_production", "target_service"]


def target_service(options: GamedayOptions) -> Service:
    """The service the experiments must fit, read before they load (so that a name the
    service lacks is bad input at its line): the --service file's, or the reference stack's,
    whose segments, versions and pager do not depend on whether it runs yet."""
    if options.service_file is not None:
        service = load_service(options.service_file)
        guard_production(service, options.service_file, options.allow_production)
        return service
    return reference_service(options.state_dir)


def execute(
    scenario: Scenario, experiments: list[Experiment], service: Service, options: GamedayOptions
) -> None:
    """Run the loaded experiments (they fit ``service``: `target_service`) and report."""
    show_progress(options.verbose)
    INTERRUPTS.install()  # the first signal stops the run; none can stop the revert or reports
    settings = None
    if options.service_file is not None:
        cfg, started_stack = None, False
    else:
        from mlchaos.reference import service as reference
        from mlchaos.reference import supervisor

        cfg, started_stack = supervisor.ensure_running(options.state_dir, say)
        service, settings = reference.service(cfg), supervisor.rule_settings(cfg)
    try:
        responder = responders_for(service, scenario.responders, settings, options.runbook_dir, say)
        # Where `mlchaos recover` finds this run after a kill -9: beside the reference stack
        # it runs on, or beside the reports of a team's own staging (never in the cwd).
        open_runs = cfg.state_dir / "runs" if cfg else options.report_dir / OPEN_RUNS
        result = run_gameday(
            scenario, experiments, service, options.report_dir, responder, open_runs
        )
    finally:
        if cfg is not None and started_stack and not options.keep_stack:
            from mlchaos.reference import supervisor

            with INTERRUPTS.deferred():
                supervisor.down(cfg)
            say("stopped the reference stack this run started (keep it with --keep-stack)")
    with INTERRUPTS.deferred():  # a signal now is noted, and the reports still written
        _report(result, options)
    # Reverted and reported: a signal now must not turn the documented exit code into death
    # by signal while threads wind down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(Exit.INTERRUPTED if result.interrupted else EXIT_OF[result.verdict])


def guard_production(service: Service, path: object, allowed: bool) -> None:
    """Refuse a service declared production unless the run says it means it."""
    if service.environment in PRODUCTION and not allowed:
        raise InputError(
            f"{path}: environment: {service.environment}: refusing to inject faults into a "
            "service declared production; pass --allow-production if you mean it"
        )


def _report(result: GamedayResult, options: GamedayOptions) -> None:
    document = result.document()
    history = options.history_file()
    problem = record(document, result.run_dir, history)
    if problem:  # the run's own reports still come
        say(f"warning: {problem}")
    report = dataclasses.replace(options.report, history=history)
    paths = write_reports(document, result.run_dir, report)
    click.echo("")
    click.echo(summary_table(document))
    click.echo("\nreports: " + "\n         ".join(str(p) for p in paths))
