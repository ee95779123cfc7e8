"""Incidents as the PagerDuty receiver saw them, and the automated responder that acks them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pagerduty
import requests

from mlchaos.errors import ObservationError

if TYPE_CHECKING:  # the interface; this module holds one of its implementations
    from mlchaos.observe.adapters import Pager

__all__ = ["EPOCH", "AutomatedResponder", "Incidents", "acknowledge", "events_client"]

log = logging.getLogger("mlchaos.progress")
EPOCH = datetime.fromtimestamp(0, UTC)


class Incidents:
    """Reads ``GET /incidents`` from the receiver."""

    source = "pagerduty"

    def __init__(self, url: str, ca_file: Path | None, timeout_s: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.verify: str | bool = str(ca_file) if ca_file else True
        self.timeout_s = timeout_s

    def since(self, service: str, when: datetime) -> list[dict[str, Any]]:
        try:
            response = requests.get(
                f"{self.url}/incidents",
                params={"service": service, "since": when.isoformat()},
                verify=self.verify,
                timeout=self.timeout_s,
            )
            response.raise_for_status()
            return list(response.json()["incidents"])
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise ObservationError(
                f"PagerDuty receiver at {self.url} did not answer: {exc}"
            ) from exc


def events_client(routing_key: str, url: str, ca_file: Path | None) -> pagerduty.EventsApiV2Client:
    """The official Events API v2 client; with the default PagerDuty URL it talks to PagerDuty."""
    client = pagerduty.EventsApiV2Client(
        routing_key, base_url=url, verify=str(ca_file) if ca_file else True
    )
    client.max_network_attempts = 2
    client.sleep_timer = 0.2
    return client


class AutomatedResponder:
    """Acknowledges each new incident ``ack_delay_s`` after it was triggered, as a person would,
    then hands it to ``after_ack`` (the game day follows the incident's runbook there).
    ``before_ack`` is told first, so that the acknowledgement is on record as mlchaos's before
    the pager shows it.

    Runs in a thread beside the game day; ``stop()`` ends it.
    """

    def __init__(
        self,
        incidents: Pager,
        ack: Callable[[dict[str, Any]], None],
        service: str,
        ack_delay_s: float,
        started: datetime,
        after_ack: Callable[[dict[str, Any]], None] | None = None,
        poll_s: float = 0.2,
        before_ack: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.incidents = incidents
        self.ack = ack
        self.service = service
        self.ack_delay = timedelta(seconds=ack_delay_s)
        self.started = started
        self.after_ack = after_ack
        self.before_ack = before_ack
        self.poll_s = poll_s
        self.acked: set[str] = set()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._run, name="responder", daemon=True)

    def watch_from(self, when: datetime) -> None:
        """Act only on incidents triggered from ``when``: pages that belong to an earlier
        experiment are left to Alertmanager to resolve, not mitigated into the next one."""
        self.started = when
        self._paused.clear()

    def pause(self) -> None:
        """Act on nothing until the next `watch_from`."""
        self._paused.set()

    def start(self) -> AutomatedResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        failing = False  # say so once when the pager fails, and once when it is back
        while not self._stop.wait(self.poll_s):
            if self._paused.is_set():
                continue
            try:
                self._ack_due()
            except (ObservationError, pagerduty.Error) as exc:
                if not failing:
                    log.warning("responder: %s (retrying quietly until it answers)", exc)
                failing = True
                continue
            if failing:
                log.warning("responder: the pager answers again")
            failing = False

    def _ack_due(self) -> None:
        now = datetime.now().astimezone()
        for incident in self.incidents.since(self.service, self.started):
            due = datetime.fromisoformat(incident["triggered_at"]) + self.ack_delay
            fresh = incident["status"] == "triggered" and incident["id"] not in self.acked
            if fresh and now >= due:
                if self.before_ack is not None:
                    self.before_ack(incident)
                self.ack(incident)
                self.acked.add(incident["id"])
                log.info("responder acknowledged %s (%s)", incident["id"], incident["summary"][:60])
                if self.after_ack is not None:
                    self.after_ack(incident)


def acknowledge(
    incidents: Pager,
    ack: Callable[[dict[str, Any]], None],
    service: str,
    ids: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Acknowledge the triggered incidents named by ``ids`` (all of them when empty) with
    ``ack`` (the Events API or the REST API); returns the incidents acknowledged."""
    from mlchaos.errors import InputError

    open_ = [i for i in incidents.since(service, EPOCH) if i["status"] == "triggered"]
    chosen = [i for i in open_ if not ids or i["id"] in ids]
    unknown = set(ids) - {i["id"] for i in open_}
    if unknown:
        known = ", ".join(i["id"] for i in open_) or "none"
        raise InputError(f"no triggered incident {', '.join(sorted(unknown))}; triggered: {known}")
    for incident in chosen:
        ack(incident)
    return chosen
