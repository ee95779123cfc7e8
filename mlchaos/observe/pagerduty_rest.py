"""Incidents as PagerDuty's REST API v2 tells them, through the official client
(`pagerduty.RestApiV2Client`): a team's real pager, read with an API token.

An incident's page time is its ``created_at``; its acknowledgement, the ``created_at`` of its
``acknowledge_log_entry`` (and who acknowledged, its ``agent``); the alert it was for, its first
alert's ``body.details`` (what Alertmanager sent as ``details``). PagerDuty gives times to the
second, so each is an interval, and a duration is measured from the earliest its start can have
been to the latest its end can have been: never shorter than it was, and a target is never met
by rounding. An event's time is read as the end of its second (never after the moment it was
read); the page also keeps ``triggered_earliest``, the start of its second, where MTTA starts.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pagerduty

from mlchaos.errors import AccessRefused, InputError, ObservationError
from mlchaos.schema.service import PagerDutyRest as RestSpec

if TYPE_CHECKING:  # the interface; this module holds one of its implementations
    from mlchaos.observe.adapters import Pager

__all__ = ["PagerDutyRest", "rest_client"]


def rest_client(spec: RestSpec, ca_file: Path | None) -> pagerduty.RestApiV2Client:
    """The official REST client, with the token from ``$spec.token_env``; bounded retries, so
    an unreachable or throttling API is reported, not waited out."""
    token = os.environ.get(spec.token_env, "")
    if not token:
        raise InputError(f"${spec.token_env} is not set: it holds the PagerDuty REST API token")
    client = pagerduty.RestApiV2Client(
        token, default_from=spec.from_email, base_url=spec.url.rstrip("/"),
        verify=str(ca_file) if ca_file else True,
    )  # fmt: skip
    client.max_network_attempts = 2
    client.max_http_attempts = 3
    client.sleep_timer = 0.2
    client.retry = {429: 2}
    client.timeout = 5
    return client


class PagerDutyRest:
    """`Pager` over PagerDuty's REST API v2."""

    source = "pagerduty REST API"

    def __init__(self, spec: RestSpec, ca_file: Path | None, service: str = "") -> None:
        self.spec = spec
        self.url = spec.url.rstrip("/")
        self.client = rest_client(spec, ca_file)
        self._ids: dict[str, str] = {service: spec.service_id} if spec.service_id else {}
        self._details: dict[str, Any] = {}
        self._read_as: dict[tuple[str, str, int], dict[str, Any]] = {}
        """Incidents read, by id and status: log entries are read again only on a change."""

    def since(self, service: str, when: datetime) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        params = {
            "service_ids[]": [self._service_id(service)],
            "since": _pd(when - timedelta(seconds=1)),  # times are to the second
            "until": _pd(now + timedelta(minutes=1)),
        }
        found = []
        for raw in self._call(lambda: self.client.list_all("incidents", params=params)):
            known = self._read_as.get(_state(raw))
            incident = known or self._read(raw, service, now)
            if datetime.fromisoformat(incident["triggered_earliest"]) >= when:
                found.append(incident)  # not one that may have come before ``when``
        return found

    def acknowledge(self, incident: dict[str, Any]) -> None:
        """Acknowledge ``incident`` as ``from_email`` (PUT /incidents/{id})."""
        if not self.spec.from_email:
            raise InputError("acknowledging through the REST API needs pagerduty.rest.from_email")
        body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
        self._call(lambda: self.client.rput(f"incidents/{incident['id']}", json=body))

    def _read(self, raw: dict[str, Any], service: str, now: datetime) -> dict[str, Any]:
        times: dict[str, str | None] = {"acknowledge": None, "resolve": None, "escalate": None}
        acknowledged_by = escalated_to = None
        if raw["status"] != "triggered" or int(raw.get("escalation_level") or 1) > 1:
            entries = self._call(lambda: self.client.list_all(f"incidents/{raw['id']}/log_entries"))
            for entry in sorted(entries, key=lambda e: e["created_at"]):
                kind = entry["type"].removesuffix("_log_entry")
                if kind in times and times[kind] is None:
                    times[kind] = _end_of_second(entry["created_at"], now)
                    if kind == "acknowledge":
                        acknowledged_by = (entry.get("agent") or {}).get("summary")
                    if kind == "escalate":
                        to = [a.get("summary") for a in entry.get("assignees") or []]
                        escalated_to = ", ".join(t for t in to if t) or None
        incident = {
            "id": raw["id"], "service": service, "dedup_key": raw.get("incident_key") or "",
            "status": raw["status"], "summary": raw.get("title") or raw.get("summary", ""),
            "triggered_at": _end_of_second(raw["created_at"], now),
            "triggered_earliest": _start_of_second(raw["created_at"]),
            "acknowledged_at": times["acknowledge"], "resolved_at": times["resolve"],
            "acknowledged_by": acknowledged_by,
            "escalated_at": times["escalate"], "escalated_to": escalated_to,
            "custom_details": self._details_of(raw["id"]),
        }  # fmt: skip
        self._read_as[_state(raw)] = incident
        return incident

    def _details_of(self, incident_id: str) -> Any:
        if incident_id not in self._details:
            alerts = self._call(lambda: self.client.list_all(f"incidents/{incident_id}/alerts"))
            first: dict[str, Any] = min(alerts, key=lambda a: a["created_at"], default={})
            self._details[incident_id] = (first.get("body") or {}).get("details")
        return self._details[incident_id]

    def _service_id(self, name: str) -> str:
        if name not in self._ids:
            found = self._call(lambda: self.client.find("services", name, attribute="name"))
            if not found:
                raise ObservationError(f"PagerDuty at {self.url} has no service named {name!r}")
            self._ids[name] = str(found["id"])
        return self._ids[name]

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except pagerduty.HttpError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise AccessRefused(
                    f"PagerDuty's REST API at {self.url} refused the token in "
                    f"${self.spec.token_env} (HTTP {status})"
                ) from exc
            raise ObservationError(
                f"PagerDuty's REST API at {self.url} answered HTTP {status}"
            ) from exc
        except pagerduty.Error as exc:
            raise ObservationError(
                f"PagerDuty's REST API at {self.url} did not answer: {exc}"
            ) from exc
        except OSError as exc:
            raise ObservationError(
                f"PagerDuty's REST API at {self.url} is unreachable: {type(exc).__name__}"
            ) from exc


def _pd(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_of_second(text: str) -> str:
    """A PagerDuty time as the earliest moment it can stand for."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()


def _state(raw: dict[str, Any]) -> tuple[str, str, int]:
    """What makes an incident worth reading again: its status, and its escalation level
    (an escalation changes no status)."""
    return raw["id"], raw["status"], int(raw.get("escalation_level") or 1)


def _end_of_second(text: str, now: datetime) -> str:
    """A PagerDuty time (to the second) as the latest moment it can stand for."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.microsecond == 0:
        when = min(when + timedelta(seconds=1), now)
    return when.isoformat()


if TYPE_CHECKING:
    _: type[Pager] = PagerDutyRest
