"""A PagerDuty Events API v2 receiver, faithful to the public contract, that keeps incidents.

Contract (https://developer.pagerduty.com/docs/events-api-v2/overview):

- ``POST /v2/enqueue`` with ``routing_key`` (32 characters), ``event_action`` (trigger,
  acknowledge, resolve), ``dedup_key`` (at most 255 characters; required unless triggering)
  and, to trigger, ``payload`` with ``summary`` (at most 1024), ``source`` and ``severity``
  (critical, error, warning, info). Answers 202 ``{"status": "success", "message": "Event
  processed", "dedup_key": ...}`` or 400 ``{"status": "invalid event", "message": "Event object
  is invalid", "errors": [...]}``.
- ``POST /v2/change/enqueue`` for change events, answered 202.

Beyond the contract, for mlchaos and for people: ``GET /incidents`` lists incidents with the
times the receiver saw each trigger, acknowledge and resolve. Routing keys never leave it.
Under ``/rest``, PagerDuty's REST API v2 over the same incidents, for API tokens given
(`mlchaos.receiver.rest`).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIONS",
    "SEVERITIES",
    "EscalationPolicy",
    "EscalationRule",
    "Incident",
    "IncidentStore",
    "Policies",
    "PolicyFile",
    "create_app",
    "escalations",
    "validate_event",
]

ACTIONS = ("trigger", "acknowledge", "resolve")
log = logging.getLogger("mlchaos.receiver")
SEVERITIES = ("critical", "error", "warning", "info")


class Incident(BaseModel):
    id: str
    service: str
    dedup_key: str
    status: str
    summary: str
    severity: str
    source: str
    links: list[dict[str, Any]] = []
    custom_details: Any = None
    triggered_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    """The user who acknowledged through the REST API (its ``From``); None: the Events API."""
    resolved_at: datetime | None = None
    trigger_count: int = 1


class EscalationRule(BaseModel):
    """A level of an escalation policy, as PagerDuty's ``escalation_rules`` give it."""

    model_config = ConfigDict(extra="forbid")

    escalation_delay_in_minutes: float = Field(gt=0, le=10080)
    """How long this level has to acknowledge before the next is notified. PagerDuty takes
    whole minutes (1 at least); the receiver also takes fractions, so a staging game day can
    see an escalation in seconds (``0.1`` is 6 s)."""
    targets: list[str] = Field(min_length=1)
    """Who this level notifies (user or schedule names)."""


class EscalationPolicy(BaseModel):
    """What happens to an incident nobody acknowledges: each level in turn, ``num_loops`` times
    round."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    escalation_rules: list[EscalationRule] = Field(min_length=1)
    num_loops: int = Field(default=0, ge=0, le=9)


Policies = Callable[[], dict[str, EscalationPolicy]]
"""The escalation policy of each service, as they stand at the moment of asking."""


class PolicyFile:
    """One service's escalation policy, read from a YAML file and read again whenever the
    file changes; none while the file is absent (so deleting it removes the policy, as a team
    that deletes its policy in PagerDuty would)."""

    def __init__(self, path: Path, service: str) -> None:
        self.path, self.service = path, service
        self._seen: tuple[float, dict[str, EscalationPolicy]] | None = None

    def __call__(self) -> dict[str, EscalationPolicy]:
        try:
            changed = self.path.stat().st_mtime
        except OSError:
            return {}
        if self._seen is None or self._seen[0] != changed:
            try:
                loaded = EscalationPolicy.model_validate(yaml.safe_load(self.path.read_text()))
            except (OSError, ValueError, yaml.YAMLError) as exc:
                log.warning("escalation policy %s unreadable, so none applies: %s", self.path, exc)
                return {}
            self._seen = (changed, {self.service: loaded})
        return self._seen[1]


def escalations(incident: Incident, policy: EscalationPolicy, now: datetime) -> list[
    tuple[int, datetime]
]:  # fmt: skip
    """``(level, when)`` of each escalation the incident has undergone by ``now``: after each
    level's delay, while it was still neither acknowledged nor resolved, the next level is
    notified (level 1 is notified at the trigger, and is no escalation)."""
    ended = min(
        t for t in (incident.acknowledged_at, incident.resolved_at, now) if t is not None
    )
    rules = policy.escalation_rules
    found, at = [], incident.triggered_at
    for step in range(len(rules) * (policy.num_loops + 1) - 1):
        at = at + timedelta(minutes=rules[step % len(rules)].escalation_delay_in_minutes)
        if at > ended:
            break
        found.append(((step + 1) % len(rules) + 1, at))
    return found


def validate_event(event: Any, routing_keys: dict[str, str]) -> list[str]:
    """Every contract violation in ``event``; empty when it is valid."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif key not in routing_keys:
        errors.append("Invalid routing key")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append(f"'dedup_key' is required for event_action {action}")
    if action == "trigger":
        errors.extend(_payload_errors(event.get("payload")))
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload.get("source"):
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append(
            "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
        )
    timestamp = payload.get("timestamp")
    if timestamp is not None:
        try:
            datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
        except ValueError:
            errors.append("'payload.timestamp' is not a valid ISO 8601 timestamp")
    return errors


class IncidentStore:
    """Incidents by dedup key per service, persisted as an event log that is replayed on start."""

    def __init__(self, log_path: Path, services_by_key: dict[str, str]) -> None:
        self.log_path = log_path
        self.services_by_key = services_by_key
        self.incidents: list[Incident] = []
        self._lock = threading.Lock()
        if log_path.exists():
            for line in log_path.read_text().splitlines():
                record = json.loads(line)
                self._apply(
                    record["service"], record["event"], datetime.fromisoformat(record["at"])
                )

    def accept(self, event: dict[str, Any]) -> str:
        """Record a valid event; return its dedup key."""
        service = self.services_by_key[event["routing_key"]]
        event = {k: v for k, v in event.items() if k != "routing_key"}
        event.setdefault("dedup_key", uuid.uuid4().hex)
        return self.record(service, event)

    def record(self, service: str, event: dict[str, Any]) -> str:
        """Apply and log an event on ``service`` (no routing key: it is never logged)."""
        at = datetime.now(tz=UTC)
        with self._lock:
            self._apply(service, event, at)
            with self.log_path.open("a") as log:
                record = {"service": service, "at": at.isoformat(), "event": event}
                log.write(json.dumps(record) + "\n")
        return str(event["dedup_key"])

    def list(self, service: str | None = None, since: datetime | None = None) -> list[Incident]:
        with self._lock:
            return [
                i
                for i in self.incidents
                if (service is None or i.service == service)
                and (since is None or i.triggered_at >= since)
            ]

    def _open(self, service: str, dedup_key: str) -> Incident | None:
        for incident in reversed(self.incidents):
            if incident.service == service and incident.dedup_key == dedup_key:
                return incident if incident.status != "resolved" else None
        return None

    def _apply(self, service: str, event: dict[str, Any], at: datetime) -> None:
        action, dedup_key = event["event_action"], event["dedup_key"]
        incident = self._open(service, dedup_key)
        if action == "trigger":
            if incident is not None:
                incident.trigger_count += 1
                return
            payload = event["payload"]
            self.incidents.append(
                Incident(
                    id=f"P{len(self.incidents) + 1:05d}",
                    service=service,
                    dedup_key=dedup_key,
                    status="triggered",
                    summary=payload["summary"],
                    severity=payload["severity"],
                    source=payload["source"],
                    links=event.get("links") or [],
                    custom_details=payload.get("custom_details"),
                    triggered_at=at,
                )
            )
        elif incident is not None and action == "acknowledge" and incident.status == "triggered":
            incident.status, incident.acknowledged_at = "acknowledged", at
            incident.acknowledged_by = event.get("from")
        elif incident is not None and action == "resolve":
            incident.status, incident.resolved_at = "resolved", at


def create_app(
    state_dir: Path, routing_keys: dict[str, str], api_tokens: frozenset[str] = frozenset(),
    policies: Policies = dict,
) -> FastAPI:  # fmt: skip
    """``routing_keys`` maps service name to its 32-character routing key; ``api_tokens`` are
    the REST API tokens accepted under ``/rest`` (none: every REST call is refused);
    ``policies`` gives each service's escalation policy when asked (`PolicyFile`; by default
    none: incidents never escalate)."""
    from mlchaos.receiver.rest import rest_router

    store = IncidentStore(state_dir / "incidents.jsonl", {v: k for k, v in routing_keys.items()})
    app = FastAPI(title="mlchaos PagerDuty Events API v2 receiver")
    router = rest_router(store, api_tokens, list(routing_keys), policies)
    app.include_router(router, prefix="/rest")

    @app.post("/v2/enqueue")
    async def enqueue(request: Request) -> JSONResponse:
        try:
            event = await request.json()
        except ValueError:
            return _invalid(["Request body is not valid JSON"])
        errors = validate_event(event, store.services_by_key)
        if errors:
            return _invalid(errors)
        dedup_key = store.accept(event)
        body = {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
        return JSONResponse(body, status_code=202)

    @app.post("/v2/change/enqueue")
    async def change(request: Request) -> JSONResponse:
        try:
            event = await request.json()
        except ValueError:
            return _invalid(["Request body is not valid JSON"])
        errors = []
        if not isinstance(event, dict) or event.get("routing_key") not in store.services_by_key:
            errors.append("Invalid routing key")
        payload = event.get("payload") if isinstance(event, dict) else None
        if not isinstance(payload, dict) or not payload.get("summary"):
            errors.append("'payload.summary' is missing or blank")
        if errors:
            return _invalid(errors)
        return JSONResponse({"status": "success", "message": "Change event processed"}, 202)

    @app.get("/incidents")
    def incidents(service: str | None = None, since: datetime | None = None) -> JSONResponse:
        listed = store.list(service, since)
        now = policies()
        return JSONResponse({"incidents": [_with_escalation(i, now) for i in listed]})

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _with_escalation(
    incident: Incident, policies: dict[str, EscalationPolicy] | None
) -> dict[str, Any]:
    """The incident as ``/incidents`` lists it: with its first escalation, when its service's
    policy escalated it (``escalated_at``, and the level's targets as ``escalated_to``)."""
    listed = incident.model_dump(mode="json")
    policy = (policies or {}).get(incident.service)
    reached = escalations(incident, policy, datetime.now(UTC)) if policy else []
    if policy is not None and reached:
        level, at = reached[0]
        listed["escalated_at"] = at.isoformat()
        listed["escalated_to"] = ", ".join(policy.escalation_rules[level - 1].targets)
    return listed


def _invalid(errors: list[str]) -> JSONResponse:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return JSONResponse(body, status_code=400)
