"""Who answers the pages during a game day.

- `AutomatedResponders` (CI): acknowledge each page after a human-like delay, then follow the
  incident's runbook, running its automated steps into the experiment's journal;
- human responders: nobody in mlchaos; people acknowledge (`mlchaos ack` or PagerDuty) and
  follow the runbooks themselves, while `mlchaos.cli.live` shows them the clock.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from mlchaos.errors import ObservationError
from mlchaos.journal import Journal, Responded
from mlchaos.observe import adapters
from mlchaos.observe.pagerduty import AutomatedResponder
from mlchaos.report.live import live_lines
from mlchaos.rules import RuleSettings
from mlchaos.runbooks.catalogue import Runbook, render_runbooks
from mlchaos.runbooks.follow import RunbookFollower
from mlchaos.schema import Responders
from mlchaos.service import Service
from mlchaos.vocabulary import RESPONDER

__all__ = ["AutomatedResponders", "HumanResponders", "Ready", "Responder", "responders_for"]

log = logging.getLogger("mlchaos.progress")


def responders_for(
    service: Service,
    responders: Responders,
    settings: RuleSettings | None = None,
    runbook_dir: Path | None = None,
    say: Callable[[str], None] = log.info,
) -> Callable[[datetime], Responder] | None:
    """How to start the scenario's responders once the load has ramped up.

    Automated: acknowledge pages after the scenario's delay through the official client, then
    follow the runbook's automated steps. The routing key is read from where the service file
    says (a file or the environment) and kept in memory only. ``settings`` are the rules the
    service runs, for the runbooks each alert links to (default: `mlchaos rules`' own). The
    runbooks are rendered now, so a broken one stops the game day before any fault is injected.
    """
    if not service.has_pager:
        say("responders: none; the service file names no pager, so nothing pages anyone")
        return None
    if responders.mode == "human":
        say("responders: human — acknowledge pages in PagerDuty or with `mlchaos ack`, and")
        say("mitigate by following the runbook each page links to; Ctrl-C aborts and reverts")
        return lambda started: HumanResponders(service)
    key = service.routing_key()
    if not key:
        say(f"no routing key in {service.routing_key_source}: nobody will acknowledge pages")
        return None
    settings = settings or RuleSettings(model=service.model)
    books = render_runbooks(service, settings, runbook_dir)

    def start(started: datetime) -> Responder:
        return AutomatedResponders(
            service, key, responders.ack_delay, books, started, settings.alert_prefix
        )

    return start


Ready = Callable[[], bool]
"""Whether the responder's drill may run now (see `AutomatedResponders.watch`)."""


class Responder(Protocol):
    def watch(self, since: datetime, journal: Journal, ready: Ready | None = None) -> None:
        """A new experiment starts: answer its pages, raised from ``since``, into ``journal``;
        run runbook steps once ``ready`` says so."""

    def drain(self) -> None:
        """Finish what was started for this experiment (bounded), before it is judged."""

    def idle(self) -> None:
        """The experiment ended: act on nothing until the next one starts."""

    def stop(self) -> None: ...


class AutomatedResponders:
    def __init__(
        self,
        service: Service,
        routing_key: str,
        ack_delay_s: float,
        runbooks: dict[str, Runbook],
        started: datetime,
        alert_prefix: str = "",
    ) -> None:
        """``routing_key`` stays in memory: acknowledging needs it, nothing records it.

        Everything it does is mlchaos's, and says so: each acknowledgement is journalled as
        the simulated responder's before it is made, and its runbook steps run as
        ``mlchaos-responder`` once the experiment's own mitigation is settled (`watch`), so a
        drill can never pass for the team's mitigation."""
        self.ack_delay_s = ack_delay_s
        self.follower = RunbookFollower(runbooks, service, alert_prefix)
        self.pager = AutomatedResponder(
            adapters.pager(service),
            adapters.acknowledger(service),
            service.pagerduty_service,
            ack_delay_s,
            started,
            after_ack=self.follower,
            before_ack=self._record_ack_as_ours,
        ).start()

    def _record_ack_as_ours(self, incident: dict[str, Any]) -> None:
        journal = self.follower.journal
        if journal is not None:
            journal.write(
                Responded(
                    action="acknowledge", incident=str(incident["id"]), actor=RESPONDER,
                    delay_s=self.ack_delay_s,
                )
            )  # fmt: skip

    def watch(self, since: datetime, journal: Journal, ready: Ready | None = None) -> None:
        self.follower.watch(journal, ready)
        self.pager.watch_from(since)

    def drain(self) -> None:
        self.follower.drain()

    def idle(self) -> None:
        self.pager.pause()
        self.follower.watch(None)

    def stop(self) -> None:
        self.pager.stop()


class HumanResponders:
    """Nobody in mlchaos answers pages: people do, in PagerDuty or with `mlchaos ack`, and they
    mitigate by following the runbook. This shows them the live view while they work.

    On a terminal the view redraws in place once a second; otherwise (CI logs, pipes) it prints
    a new block whenever an event or a page changes, and every ``quiet_s`` while waiting.
    """

    def __init__(
        self,
        service: Service,
        out: TextIO | None = None,
        interval_s: float = 1.0,
        quiet_s: float = 10.0,
    ) -> None:
        self.service = service
        self.incidents = adapters.pager(service)
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.interval_s, self.quiet_s = interval_s, quiet_s
        self.since = datetime.now(UTC)
        self.journal: Journal | None = None
        self._drawn: list[str] = []
        self._last_print = 0.0
        self._stop = threading.Event()
        self._filter = _DropWaitingLines()
        if self.tty:  # the view already shows what the waiting lines would say
            logging.getLogger("mlchaos.progress").addFilter(self._filter)
        self._thread = threading.Thread(target=self._run, name="live-view", daemon=True)
        self._thread.start()

    def watch(self, since: datetime, journal: Journal, ready: Ready | None = None) -> None:
        self.since, self.journal, self._drawn = since, journal, []

    def drain(self) -> None:
        return None  # people finish in their own time

    def idle(self) -> None:
        self.journal = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        logging.getLogger("mlchaos.progress").removeFilter(self._filter)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.journal is None:
                continue
            try:
                pages = self.incidents.since(self.service.pagerduty_service, self.since)
            except ObservationError as exc:
                pages = []
                log.warning("live view: %s", exc)
            self._draw(live_lines(self.journal.read(), pages, datetime.now(UTC)))

    def _draw(self, lines: list[str]) -> None:
        if not lines:
            return
        if self.tty:
            up = f"\x1b[{len(self._drawn)}F\x1b[J" if self._drawn else ""
            self.out.write(up + "\n".join(lines) + "\n")
        else:
            changed = _shape(lines) != _shape(self._drawn)
            if not changed and time.monotonic() - self._last_print < self.quiet_s:
                return
            self.out.write("\n".join(lines) + "\n")
            self._last_print = time.monotonic()
        self.out.flush()
        self._drawn = lines


def _shape(lines: list[str]) -> list[str]:
    """The view without its clocks: what changed when an event or a page changed."""
    return [re.sub(r"[0-9.]+s (left|OVER)|\+[0-9.]+s$", "", line) for line in lines]


class _DropWaitingLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("    waiting for")
