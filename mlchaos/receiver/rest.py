"""PagerDuty's REST API v2, the part a game day reads, served by the receiver from the incidents
its Events API made: faithful to the public contract, so that the official client
(`pagerduty.RestApiV2Client`) runs against it unchanged.

Contract (https://developer.pagerduty.com/api-reference/):

- Every call carries ``Authorization: Token token=TOKEN``; without a known token: 401
  ``{"error": {"message": "Authentication required", "code": 2006}}``.
- Lists use classic pagination: ``limit`` (default 25, at most 100), ``offset``, ``total=true``
  for a count; answers carry ``limit``, ``offset``, ``more`` and ``total`` (null unless asked).
- ``GET /services`` (``query``: by name), ``GET /services/{id}``.
- ``GET /incidents``: ``service_ids[]``, ``statuses[]``, ``incident_key``, ``since`` and
  ``until`` (on ``created_at``; without them and without ``date_range=all``, the last 30 days).
- ``GET /incidents/{id}``, ``/incidents/{id}/log_entries`` (newest first: trigger, acknowledge
  and resolve entries) and ``/incidents/{id}/alerts`` (the event's ``custom_details`` as
  ``body.details``).
- ``GET /escalation_policies``, ``GET /escalation_policies/{id}``; a service and its incidents
  name their policy (``escalation_policy``), and an incident nobody acknowledged in a level's
  ``escalation_delay_in_minutes`` has an ``escalate_log_entry`` (channel ``timeout``, the new
  level's ``assignees``) at the moment the next level was notified.
- ``PUT /incidents/{id}`` with ``{"incident": {"type": "incident_reference", "status":
  "acknowledged" | "resolved"}}`` and a ``From`` header naming the user: 400 without it.
- Times are ISO 8601 to the second, in UTC (``2026-12-02T05:07:04Z``), as PagerDuty's are.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import b32encode
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mlchaos.receiver.events import (
    EscalationPolicy,
    Incident,
    IncidentStore,
    Policies,
    escalations,
)

__all__ = ["MAX_LIMIT", "pd_time", "policy_id", "rest_router", "service_id"]

MAX_LIMIT = 100
_DONE = {"trigger": "Triggered", "acknowledge": "Acknowledged", "resolve": "Resolved"}


def service_id(name: str) -> str:
    """A PagerDuty-shaped id (``P`` and six characters) for the service ``name``, stable."""
    return "P" + b32encode(hashlib.sha256(name.encode()).digest()).decode()[:6]


def policy_id(name: str) -> str:
    """A PagerDuty-shaped id for the escalation policy ``name``, stable."""
    return "E" + b32encode(hashlib.sha256(f"policy:{name}".encode()).digest()).decode()[:6]


def pd_time(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _error(status: int, message: str, code: int, errors: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return JSONResponse({"error": body}, status_code=status)


def _invalid(*errors: str) -> JSONResponse:
    return _error(400, "Invalid Input Provided", 2001, list(errors))


class _Page:
    """Classic pagination's parameters, read and checked."""

    def __init__(self, request: Request) -> None:
        self.errors: list[str] = []
        limit = self._int(request, "limit", 25)
        self.offset = self._int(request, "offset", 0) or 0
        self.total = request.query_params.get("total", "false").lower() == "true"
        if limit is not None and limit < 1:
            self.errors.append("Limit must be a positive integer")
        self.limit = min(limit or 25, MAX_LIMIT)

    def _int(self, request: Request, name: str, default: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(f"{name.capitalize()} must be an integer")
            return None
        if value < 0:
            self.errors.append(f"{name.capitalize()} must not be negative")
        return value

    def answer(self, key: str, items: list[dict[str, Any]]) -> JSONResponse:
        start = self.offset
        chosen = items[start : start + self.limit]
        return JSONResponse({
            key: chosen, "limit": self.limit, "offset": start,
            "more": start + len(chosen) < len(items),
            "total": len(items) if self.total else None,
        })  # fmt: skip


def rest_router(
    store: IncidentStore, tokens: frozenset[str], services: list[str], policies: Policies = dict,
) -> APIRouter:  # fmt: skip
    """The REST endpoints over ``store``, for the API ``tokens``, on ``services`` by name, each
    escalating as ``policies`` says (by service name) at the moment of the call."""
    router = APIRouter()

    def authorized(request: Request) -> bool:
        given = request.headers.get("Authorization", "")
        prefix = "Token token="
        if not given.startswith(prefix):
            return False
        token = given[len(prefix) :].encode()
        return any(hmac.compare_digest(token, known.encode()) for known in tokens)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def service_ref(request: Request, name: str, full: bool = False) -> dict[str, Any]:
        sid = service_id(name)
        ref: dict[str, Any] = {
            "id": sid, "type": "service" if full else "service_reference", "summary": name,
            "self": f"{base(request)}/rest/services/{sid}",
            "html_url": f"{base(request)}/service-directory/{sid}",
        }  # fmt: skip
        if full:
            ref |= {"name": name, "description": name, "status": "active"}
            policy = policies().get(name)
            if policy is not None:
                ref["escalation_policy"] = policy_ref(request, policy)
        return ref

    def policy_ref(
        request: Request, policy: EscalationPolicy, full: bool = False
    ) -> dict[str, Any]:
        pid = policy_id(policy.name)
        ref: dict[str, Any] = {
            "id": pid, "type": "escalation_policy" if full else "escalation_policy_reference",
            "summary": policy.name, "self": f"{base(request)}/rest/escalation_policies/{pid}",
        }  # fmt: skip
        if full:
            owners = [n for n, p in policies().items() if p is policy]
            ref |= {
                "name": policy.name, "num_loops": policy.num_loops,
                "services": [service_ref(request, n) for n in owners],
                "escalation_rules": [
                    {"id": f"R{pid[1:]}{level}",
                     "escalation_delay_in_minutes": rule.escalation_delay_in_minutes,
                     "targets": [{"type": "user_reference", "summary": t} for t in rule.targets]}
                    for level, rule in enumerate(policy.escalation_rules, 1)
                ],
            }  # fmt: skip
        return ref

    def incident_json(request: Request, incident: Incident) -> dict[str, Any]:
        number = int(incident.id[1:])
        changed = incident.resolved_at or incident.acknowledged_at or incident.triggered_at
        return {
            "id": incident.id, "type": "incident", "incident_number": number,
            "summary": f"[#{number}] {incident.summary}", "title": incident.summary,
            "description": incident.summary, "status": incident.status,
            "incident_key": incident.dedup_key, "urgency": "high",
            "created_at": pd_time(incident.triggered_at), "updated_at": pd_time(changed),
            "last_status_change_at": pd_time(changed), "resolved_at": pd_time(incident.resolved_at),
            "service": service_ref(request, incident.service),
            "alert_counts": {"all": 1, "triggered": int(incident.status != "resolved"),
                             "resolved": int(incident.status == "resolved")},
            "self": f"{base(request)}/rest/incidents/{incident.id}",
            "html_url": f"{base(request)}/incidents/{incident.id}",
            **escalation_json(request, incident),
        }  # fmt: skip

    def escalation_json(request: Request, incident: Incident) -> dict[str, Any]:
        policy = policies().get(incident.service)
        if policy is None:
            return {}
        reached = escalations(incident, policy, datetime.now(UTC))
        level = reached[-1][0] if reached else 1
        return {"escalation_policy": policy_ref(request, policy), "escalation_level": level}

    def find(incident_id: str) -> Incident | None:
        return next((i for i in store.list() if i.id == incident_id), None)

    def guard(request: Request) -> JSONResponse | None:
        if not authorized(request):
            return _error(401, "Authentication required", 2006)
        return None

    def incident_or_refusal(
        request: Request, incident_id: str, page: _Page | None = None
    ) -> Incident | JSONResponse:
        """The incident a call names, or the answer that refuses the call."""
        if refused := guard(request):
            return refused
        incident = find(incident_id)
        if incident is None:
            return _error(404, "Not Found", 2100)
        if page is not None and page.errors:
            return _invalid(*page.errors)
        return incident

    @router.get("/services")
    def list_services(request: Request) -> JSONResponse:
        page = _Page(request)
        if refused := guard(request):
            return refused
        if page.errors:
            return _invalid(*page.errors)
        query = request.query_params.get("query", "").lower()
        found = [service_ref(request, n, full=True) for n in sorted(services) if query in n.lower()]
        return page.answer("services", found)

    @router.get("/services/{sid}")
    def get_service(request: Request, sid: str) -> JSONResponse:
        if refused := guard(request):
            return refused
        name = next((n for n in services if service_id(n) == sid), None)
        if name is None:
            return _error(404, "Not Found", 2100)
        return JSONResponse({"service": service_ref(request, name, full=True)})

    @router.get("/escalation_policies")
    def list_policies(request: Request) -> JSONResponse:
        page = _Page(request)
        if refused := guard(request):
            return refused
        if page.errors:
            return _invalid(*page.errors)
        unique = {policy_id(p.name): p for p in policies().values()}
        found = [policy_ref(request, p, full=True) for _, p in sorted(unique.items())]
        return page.answer("escalation_policies", found)

    @router.get("/escalation_policies/{pid}")
    def get_policy(request: Request, pid: str) -> JSONResponse:
        if refused := guard(request):
            return refused
        policy = next((p for p in policies().values() if policy_id(p.name) == pid), None)
        if policy is None:
            return _error(404, "Not Found", 2100)
        return JSONResponse({"escalation_policy": policy_ref(request, policy, full=True)})

    @router.get("/incidents")
    def list_incidents(request: Request) -> JSONResponse:
        page = _Page(request)
        if refused := guard(request):
            return refused
        params = request.query_params
        try:
            since = _when(params.get("since"))
            until = _when(params.get("until"))
        except ValueError as exc:
            return _invalid(str(exc))
        if page.errors:
            return _invalid(*page.errors)
        if since is None and until is None and params.get("date_range") != "all":
            until = datetime.now(UTC)
            since = until - timedelta(days=30)
        ids = set(params.getlist("service_ids[]"))
        statuses = set(params.getlist("statuses[]"))
        key = params.get("incident_key")
        chosen = [
            incident_json(request, i)
            for i in store.list()
            if (not ids or service_id(i.service) in ids)
            and (not statuses or i.status in statuses)
            and (key is None or i.dedup_key == key)
            and (since is None or i.triggered_at >= since)
            and (until is None or i.triggered_at < until)
        ]
        return page.answer("incidents", chosen)

    @router.get("/incidents/{incident_id}")
    def get_incident(request: Request, incident_id: str) -> JSONResponse:
        incident = incident_or_refusal(request, incident_id)
        if isinstance(incident, JSONResponse):
            return incident
        return JSONResponse({"incident": incident_json(request, incident)})

    @router.get("/incidents/{incident_id}/log_entries")
    def log_entries(request: Request, incident_id: str) -> JSONResponse:
        page = _Page(request)
        incident = incident_or_refusal(request, incident_id, page)
        if isinstance(incident, JSONResponse):
            return incident
        ref = {"id": incident.id, "type": "incident_reference", "summary": incident.summary}
        service = service_ref(request, incident.service)
        entries: list[tuple[datetime, dict[str, Any]]] = []
        for kind, when, by in (
            ("trigger", incident.triggered_at, None),
            ("acknowledge", incident.acknowledged_at, incident.acknowledged_by),
            ("resolve", incident.resolved_at, None),
        ):
            if when is None:
                continue
            agent = ({"type": "user_reference", "summary": by} if by
                     else {"type": "service_reference", "summary": incident.service})  # fmt: skip
            entries.append((when, {
                "id": f"R{incident.id[1:]}{kind[0].upper()}", "type": f"{kind}_log_entry",
                "summary": f"{_DONE[kind]} through {'the REST API' if by else 'the API'}",
                "created_at": pd_time(when), "incident": ref, "service": service,
                "agent": agent, "channel": {"type": "web_trigger" if by else "api"},
            }))  # fmt: skip
        policy = policies().get(incident.service)
        reached = escalations(incident, policy, datetime.now(UTC)) if policy else []
        for number, (level, when) in enumerate(reached, 1):
            assert policy is not None
            rule = policy.escalation_rules[level - 1]
            entries.append((when, {
                "id": f"R{incident.id[1:]}E{number}", "type": "escalate_log_entry",
                "summary": f"Escalated to level {level} by timeout", "created_at": pd_time(when),
                "incident": ref, "service": service, "channel": {"type": "timeout"},
                "agent": {"type": "service_reference", "summary": incident.service},
                "assignees": [{"type": "user_reference", "summary": t} for t in rule.targets],
            }))  # fmt: skip
        newest_first = sorted(entries, key=lambda pair: pair[0], reverse=True)  # as PagerDuty
        return page.answer("log_entries", [entry for _, entry in newest_first])

    @router.get("/incidents/{incident_id}/alerts")
    def alerts(request: Request, incident_id: str) -> JSONResponse:
        page = _Page(request)
        incident = incident_or_refusal(request, incident_id, page)
        if isinstance(incident, JSONResponse):
            return incident
        alert = {
            "id": f"A{incident.id[1:]}", "type": "alert", "summary": incident.summary,
            "created_at": pd_time(incident.triggered_at), "alert_key": incident.dedup_key,
            "status": "resolved" if incident.status == "resolved" else "triggered",
            "severity": incident.severity, "service": service_ref(request, incident.service),
            "incident": {"id": incident.id, "type": "incident_reference"},
            "body": {"type": "alert_body", "contexts": incident.links,
                     "details": incident.custom_details},
        }  # fmt: skip
        return page.answer("alerts", [alert])

    @router.put("/incidents/{incident_id}")
    async def update_incident(request: Request, incident_id: str) -> JSONResponse:
        if refused := guard(request):
            return refused
        who = request.headers.get("From", "")
        if "@" not in who:
            return _invalid("The From header is required and must be a user's email address")
        try:
            body = await request.json()
            status = body["incident"]["status"]
        except (ValueError, KeyError, TypeError):
            return _invalid('The body must be {"incident": {"type": ..., "status": ...}}')
        if status not in ("acknowledged", "resolved"):
            return _invalid("Status must be acknowledged or resolved")
        incident = find(incident_id)
        if incident is None:
            return _error(404, "Not Found", 2100)
        action = "acknowledge" if status == "acknowledged" else "resolve"
        store.record(incident.service, {"event_action": action,
                                        "dedup_key": incident.dedup_key, "from": who})  # fmt: skip
        return JSONResponse({"incident": incident_json(request, incident)})

    return router


def _when(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{raw!r} is not an ISO 8601 date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
