"""Who answers the pages during a game day.

- `AutomatedResponders` (CI): acknowledge each page after a human-like delay, then follow the
  incident's runbook, running its automated steps into the experiment's journal;
- human responders: nobody in mlchaos; people acknowledge (`mlchaos ack` or PagerDuty) and
  follow the runbooks themselves, while `mlchaos.cli.live` shows them the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mlchaos.engine.journal import Journal
from mlchaos.observe.pagerduty import AutomatedResponder, Incidents, events_client
from mlchaos.runbooks.catalogue import Runbook
from mlchaos.runbooks.follow import RunbookFollower
from mlchaos.service import Service


class Responder(Protocol):
    def watch(self, since: datetime, journal: Journal) -> None:
        """A new experiment starts: answer its pages, raised from ``since``, into ``journal``."""

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
        """``routing_key`` stays in memory: acknowledging needs it, nothing records it."""
        self.follower = RunbookFollower(runbooks, service, alert_prefix)
        self.pager = AutomatedResponder(
            Incidents(service.pagerduty_url, service.pagerduty_ca_file),
            events_client(routing_key, service.pagerduty_url, service.pagerduty_ca_file),
            service.pagerduty_service,
            ack_delay_s,
            started,
            after_ack=self.follower,
        ).start()

    def watch(self, since: datetime, journal: Journal) -> None:
        self.follower.watch(journal)
        self.pager.watch_from(since)

    def stop(self) -> None:
        self.pager.stop()
