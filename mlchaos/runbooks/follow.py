"""Follow a runbook as on-call would: run its automated steps in order, and stop at the first
that fails. Each run is written to the experiment's journal as a ``runbook_step`` record, so it
enters the timeline, and a failed step is judged a runbook defect.

>>> follower = RunbookFollower(render_runbooks(service), service)
>>> follower.watch(journal)      # the current experiment's
>>> follower(incident)           # called by the responder after it acknowledges
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.journal import Journal, RunbookStep
from mlchaos.runbooks.actions import action
from mlchaos.runbooks.catalogue import Runbook, runbook_for
from mlchaos.schema.runbook import Step
from mlchaos.service import Service

__all__ = ["ERROR_CHARS", "RunbookFollower", "incident_env", "run_step"]

log = logging.getLogger("mlchaos.progress")
ERROR_CHARS = 300


def incident_env(incident: dict[str, Any]) -> dict[str, str]:
    """What a runbook tells on-call to export, taken from the incident's alert labels."""
    details = incident.get("custom_details") or {}
    return {
        "ALERT": str(details.get("alertname", "")),
        "MODEL": str(details.get("model", "")),
        "VERSION": str(details.get("version", "")),
        "INCIDENT": str(incident.get("id", "")),
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
    """Runs each runbook once per experiment: two pages that share a runbook are one response."""

    def __init__(self, books: dict[str, Runbook], service: Service, alert_prefix: str = "") -> None:
        self.books = books
        self.service = service
        self.alert_prefix = alert_prefix
        self.journal: Journal | None = None
        self._followed: set[str] = set()

    def watch(self, journal: Journal | None) -> None:
        """Write steps to ``journal`` from now on: a new experiment starts."""
        self.journal = journal
        self._followed = set()

    def __call__(self, incident: dict[str, Any]) -> None:
        book = runbook_for(incident, self.books, self.alert_prefix)
        if book is None or book.name in self._followed:
            return
        self._followed.add(book.name)
        for step in (s for s in book.spec.steps if s.automated):
            record = {"runbook": book.name, **run_step(step, incident, self.service)}
            if self.journal is not None:
                self.journal.write(RunbookStep(**record))
            if not record["ok"]:
                log.warning(
                    "responder: runbook %s step %r FAILED: %s",
                    book.name,
                    step.name,
                    record["error"],
                )
                return  # on-call would stop here and escalate
            log.info("responder ran runbook %s step %r", book.name, step.name)
