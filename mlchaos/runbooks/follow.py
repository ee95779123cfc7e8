"""Follow a runbook as on-call would: run its automated steps in order, and stop at the first
that fails. Each run is written to the experiment's journal as a ``runbook_step`` record, so it
enters the timeline, and a failed step is judged a runbook defect.

>>> follower = RunbookFollower(render_runbooks(service), service)
>>> follower.watch(journal, ready)   # the current experiment's; steps wait for ready()
>>> follower(incident)              # called by the responder after it acknowledges
>>> follower.drain()                # before the experiment is judged
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.journal import Journal, RunbookStep
from mlchaos.runbooks.actions import action
from mlchaos.runbooks.catalogue import Runbook, runbook_for
from mlchaos.schema.runbook import Step
from mlchaos.service import Service
from mlchaos.vocabulary import RESPONDER

__all__ = ["ERROR_CHARS", "RunbookFollower", "incident_env", "run_step"]

log = logging.getLogger("mlchaos.progress")
ERROR_CHARS = 300


def incident_env(incident: dict[str, Any], actor: str = RESPONDER) -> dict[str, str]:
    """What a runbook tells on-call to export, taken from the incident's alert labels, and who
    acts (the simulated responder, in a game day: audit logs then never name a person)."""
    details = incident.get("custom_details") or {}
    return {
        "ALERT": str(details.get("alertname", "")),
        "MODEL": str(details.get("model", "")),
        "VERSION": str(details.get("version", "")),
        "INCIDENT": str(incident.get("id", "")),
        "ACTOR": actor,
    }


def run_step(step: Step, incident: dict[str, Any], service: Service) -> dict[str, Any]:
    """Run one step; the record says what ran, when, for how long, and whether it worked."""
    started, at = time.monotonic(), datetime.now(UTC).isoformat()
    try:
        error = _run_command(step, incident) if step.run else _run_action(step, incident, service)
    except Exception as exc:  # a broken step is a finding about the runbook, never a crash
        error = f"{type(exc).__name__}: {exc}"
    return {
        "step": step.name,
        "command": step.run or f"mlchaos action {step.action}",
        "at": at,
        "duration_s": round(time.monotonic() - started, 3),
        "ok": not error,
        "error": error[-ERROR_CHARS:],
        "incident": incident.get("id"),
        "alert": (incident.get("custom_details") or {}).get("alertname"),
    }


def _run_command(step: Step, incident: dict[str, Any]) -> str:
    assert step.run is not None
    try:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + step.run],
            env={**os.environ, **incident_env(incident)},
            capture_output=True,
            text=True,
            timeout=step.timeout,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {step.timeout:g}s"
    if done.returncode == 0:
        return ""
    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return f"exit {done.returncode}: {said[-1] if said else 'no output'}"


def _run_action(step: Step, incident: dict[str, Any], service: Service) -> str:
    assert step.action is not None
    try:
        action(step.action, service)(incident)
    except MlchaosError as exc:
        return str(exc)
    return ""


class RunbookFollower:
    """Runs each runbook once per experiment: two pages that share a runbook are one response.

    Steps run in a thread per runbook, once ``ready`` (given with `watch`) says so: a game
    day holds the drill until the experiment's own mitigation is settled, so that nothing the
    drill does can pass for the team's. `drain` waits for them, bounded."""

    DRAIN_S = 20.0

    def __init__(self, books: dict[str, Runbook], service: Service, alert_prefix: str = "") -> None:
        self.books = books
        self.service = service
        self.alert_prefix = alert_prefix
        self.journal: Journal | None = None
        self._ready: Callable[[], bool] = _now
        self._followed: set[str] = set()
        self._running: list[threading.Thread] = []

    def watch(self, journal: Journal | None, ready: Callable[[], bool] | None = None) -> None:
        """Write steps to ``journal`` from now on: a new experiment starts."""
        self.journal = journal
        self._ready = ready or _now
        self._followed = set()

    def __call__(self, incident: dict[str, Any]) -> None:
        book = runbook_for(incident, self.books, self.alert_prefix)
        if book is None or book.name in self._followed:
            return
        self._followed.add(book.name)
        follow = threading.Thread(
            target=self._follow, args=(book, incident, self.journal, self._ready),
            name=f"runbook-{book.name}", daemon=True,
        )  # fmt: skip
        follow.start()
        self._running.append(follow)

    def drain(self) -> None:
        """Wait for the steps under way (at most `DRAIN_S`): they belong to this experiment."""
        deadline = time.monotonic() + self.DRAIN_S
        for thread in self._running:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._running = [t for t in self._running if t.is_alive()]

    def _follow(
        self, book: Runbook, incident: dict[str, Any], journal: Journal | None,
        ready: Callable[[], bool],
    ) -> None:  # fmt: skip
        while not ready():
            if self.journal is not journal:
                return  # the experiment ended first: its drill is not run into the next
            time.sleep(0.2)
        for step in (s for s in book.spec.steps if s.automated):
            record = {"runbook": book.name, **run_step(step, incident, self.service)}
            if journal is not None:
                journal.write(RunbookStep(**record))
            if not record["ok"]:
                log.warning(
                    "responder: runbook %s step %r FAILED: %s",
                    book.name,
                    step.name,
                    record["error"],
                )
                return  # on-call would stop here and escalate
            log.info("responder ran runbook %s step %r (a drill)", book.name, step.name)


def _now() -> bool:
    return True
