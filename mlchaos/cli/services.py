"""A game day over several services: each service's experiments run as a game day of its own,
a child ``mlchaos gameday`` with that service, one after another or (``parallel: true``) at
the same time; then one report groups them by service.

A child is a whole game day: its own load, responders, baseline, leases and reverts, its
signal handling, its reports and its entry in the run history. Nothing a service's game day
does can change how another's is judged. The parent forwards SIGINT and SIGTERM to every child
(each reverts and reports, as one game day does), starts no child after a signal, and a child
gets SIGTERM if the parent dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

import click

from mlchaos.cli.common import GamedayOptions, show_progress
from mlchaos.load.runner import PR_SET_PDEATHSIG
from mlchaos.loader import Planned, load_service
from mlchaos.report.render import write_reports
from mlchaos.report.services import combine, exit_code
from mlchaos.report.table import summary_table
from mlchaos.schema import Scenario
from mlchaos.schema.results import ResultsDocument, ServiceRun
from mlchaos.vocabulary import Exit, Verdict

__all__ = ["Child", "execute_services"]


@dataclass
class Child:
    """One service's game day, as a child process."""

    name: str
    """The service file's ``name`` (the reference stack's: ``mlchaos-reference``)."""
    slug: str
    """Its folder in the run folder."""
    service_file: Path | None
    experiments: list[Planned]
    process: subprocess.Popen[bytes] | None = None
    pumps: list[threading.Thread] = field(default_factory=list)
    last_error: str = ""


def execute_services(
    scenario: Scenario,
    planned: list[Planned],
    options: GamedayOptions,
    default_name: str,
) -> None:
    """Run each service's game day, combine their results, report, exit with the worst."""
    show_progress(options.verbose)
    started = datetime.now(UTC)
    run_dir = options.report_dir / f"{scenario.name}-{started.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=False)
    children = _children(planned, default_name)
    stop = _Forwarder(children)
    with stop:
        if scenario.parallel:
            for child in children:
                _start(child, scenario, options, run_dir)
            for child in children:
                _wait(child)
        else:
            for child in children:
                if stop.received:
                    break  # a signal came: no further service's game day starts
                _start(child, scenario, options, run_dir)
                _wait(child)
    runs = [_outcome(child, run_dir, stop.received is not None) for child in children]
    document = combine(scenario.name, runs, scenario.parallel, started.isoformat())
    stop.defer()  # the reports are written whatever comes now
    paths = write_reports(document, run_dir, options.report)
    click.echo("")
    click.echo(summary_table(document))
    click.echo("\nreports: " + "\n         ".join(str(p) for p in paths))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(exit_code(document))


def _children(planned: list[Planned], default_name: str) -> list[Child]:
    """One per service, in the order each first appears."""
    groups: dict[Path | None, list[Planned]] = {}
    for p in planned:
        groups.setdefault(p.service_file, []).append(p)
    children: list[Child] = []
    for service_file, experiments in groups.items():
        name = default_name if service_file is None else load_service(service_file).name
        name = name or (service_file.stem if service_file else "default")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        taken = {c.slug for c in children}
        slug = next(f"{slug}-{n}" for n in range(2, 100) if f"{slug}-{n}" not in taken) \
            if slug in taken else slug  # fmt: skip
        children.append(Child(name, slug, service_file, experiments))
    return children


def _start(child: Child, scenario: Scenario, options: GamedayOptions, run_dir: Path) -> None:
    folder = run_dir / child.slug
    folder.mkdir()
    # its experiments (drawn already, defaults applied again the same way), nothing else
    own = scenario.model_dump(mode="json", exclude={"draw", "parallel", "history"})
    own["experiments"] = [str(p.file.resolve()) for p in child.experiments]
    derived = folder / "scenario.json"  # JSON is YAML: the child reads it as any scenario
    derived.write_text(json.dumps(own, indent=2) + "\n")
    command = [sys.executable, "-m", "mlchaos", "gameday", str(derived),
               "--report-dir", str(folder), "--history", str(options.history_file()),
               "--state-dir", str(options.state_dir),
               "--postmortem", options.report.postmortem]  # fmt: skip
    if child.service_file is not None:
        command += ["--service", str(child.service_file)]
    elif options.service_file is not None:
        command += ["--service", str(options.service_file)]
    flags = {"--keep-stack": options.keep_stack, "--allow-production": options.allow_production,
             "--verbose": options.verbose}  # fmt: skip
    command += [flag for flag, on in flags.items() if on]
    for flag, path in (("--runbook-dir", options.runbook_dir),
                       ("--template-dir", options.report.template_dir)):  # fmt: skip
        if path is not None:
            command += [flag, str(path)]
    click.echo(f"[{child.slug}] game day of {len(child.experiments)} experiment(s) against "
               f"{child.service_file or child.name}", err=True)  # fmt: skip
    child.process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C reaches the parent, which forwards it
        preexec_fn=_stop_with_parent,
    )
    assert child.process.stdout is not None and child.process.stderr is not None
    # all of it to stderr, as progress: stdout keeps one table, the combined one
    child.pumps = [
        threading.Thread(target=_pump, args=(child, stream, sys.stderr), daemon=True)
        for stream in (child.process.stdout, child.process.stderr)
    ]
    for pump in child.pumps:
        pump.start()


def _pump(child: Child, source: IO[bytes], sink: IO[str]) -> None:
    """Each line of the child's, prefixed with its service, as it comes."""
    for raw in iter(source.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith("error: "):
            child.last_error = line[len("error: ") :]
        sink.write(f"[{child.slug}] {line}\n")
        sink.flush()


def _wait(child: Child) -> None:
    assert child.process is not None
    child.process.wait()
    for pump in child.pumps:
        pump.join(timeout=10)


def _outcome(
    child: Child, run_dir: Path, interrupted: bool
) -> tuple[ServiceRun, ResultsDocument | None]:
    """What the child's game day said, from its own results.json; without one, why not."""
    code = child.process.returncode if child.process is not None else None
    found = sorted((run_dir / child.slug).glob("*/results.json"))
    document = None
    problems: list[str] = []
    if found:
        try:
            document = ResultsDocument.model_validate_json(found[-1].read_text())
        except ValueError as exc:
            problems.append(f"its results.json could not be read: {exc}")
    if code is None:
        problems.append("its game day never started: a signal came first")
    elif document is None:
        problems.append(child.last_error or f"its game day exited {code} with no results")
    run = ServiceRun(
        name=child.name,
        file=str(child.service_file) if child.service_file else None,
        verdict=document.verdict if document is not None else Verdict.INCONCLUSIVE,
        exit_code=code if code is not None else Exit.INTERRUPTED,
        run_dir=str(found[-1].parent.relative_to(run_dir)) if document is not None else None,
        interrupted=(document.interrupted if document is not None else False)
        or code == Exit.INTERRUPTED
        or (code is None and interrupted),
        load=document.load if document is not None else None,
        problems=problems + (document.baseline.problems if document is not None else []),
    )
    return run, document


class _Forwarder:
    """While the children run: SIGINT and SIGTERM go on to each running child (once each;
    every child reverts and reports by itself), and are remembered."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _Forwarder:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._forward)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        click.echo(f"{signal.Signals(signum).name}: stopping every service's game day "
                   "(each reverts and reports)", err=True)  # fmt: skip
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signum)

    def defer(self) -> None:
        """From now on a signal is only noted."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = self.received or signum


def _stop_with_parent() -> None:
    """A child gets SIGTERM (it reverts and reports) if mlchaos dies, even by ``kill -9``."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
