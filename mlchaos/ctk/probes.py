"""Chaos Toolkit probes: steady-state checks and waits for each timeline event.

Each wait polls until its event's owner reports it or ``give_up_after_s`` after injection
passes, then records the event (or why it is missing) in the run journal. It returns True when
the event happened, so it can also serve as a tolerance in raw Chaos Toolkit experiments.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import TypeAdapter

from mlchaos.access import Access
from mlchaos.errors import MlchaosError
from mlchaos.faults import fault_type
from mlchaos.journal import (
    ApprovalWatched,
    EventRecord,
    Journal,
    Missed,
    PrivacySearched,
    journal_from,
    parse_time,
)
from mlchaos.observe import events, serving, slo
from mlchaos.observe.adapters import metrics_at, pager_at, registry_at, traffic, traffic_at
from mlchaos.observe.health import down
from mlchaos.observe.rollouts import ArgoRollouts, Flagger
from mlchaos.schema import Fault, Slo
from mlchaos.schema.service import PagerDutyRest
from mlchaos.service import Service
from mlchaos.vocabulary import CheckRole, Event

__all__ = [
    "await_approval",
    "fault_active",
    "search_for_canaries",
    "serving_holds",
    "slo_holds",
    "wait_for_acknowledgement",
    "wait_for_alert",
    "wait_for_escalation",
    "wait_for_firing",
    "wait_for_mitigation",
    "wait_for_page",
    "wait_for_recovery",
    "wait_for_rollout",
]

Configuration = dict[str, Any] | None
Adapters = dict[str, str] | None
"""The service file's ``adapters:`` (kind → implementation); None: the defaults."""


def _kind(adapters: Adapters, kind: str) -> tuple[str, ...]:
    """The implementation ``adapters`` names for ``kind``, as an optional argument."""
    return (adapters[kind],) if adapters and kind in adapters else ()


def _window(configuration: Configuration, give_up_after_s: float) -> tuple[Any, Any, Any]:
    """The journal, the injection time and the deadline every wait shares."""
    journal = journal_from(configuration)
    injected = events.injected_or_fail(journal)
    return journal, injected, injected + timedelta(seconds=give_up_after_s)


def slo_holds(
    prometheus_url: str,
    name: str,
    query: str,
    below: float | None = None,
    above: float | None = None,
    role: str = CheckRole.SLO,
    adapters: Adapters = None,
    configuration: Configuration = None,
    prometheus_access: dict[str, str] | None = None,
) -> bool:
    """True when ``query`` returns a value below ``below`` (or above ``above``) now."""
    objective = Slo(name=name, query=query, below=below, above=above)
    source = _metrics(prometheus_url, adapters, prometheus_access)
    return slo.check(journal_from(configuration), source, objective, role)


def serving_holds(
    gateway_url: str,
    min_success: float = 0.9,
    adapters: Adapters = None,
    configuration: Configuration = None,
) -> bool:
    """True when the chaos gateway answered at least ``min_success`` of the last few seconds'
    requests with a 2xx: the service is serving, not just failing quietly."""
    gateway = traffic_at(gateway_url, *_kind(adapters, "traffic"))
    return serving.check(journal_from(configuration), gateway, min_success)


def fault_active(
    fault: dict[str, Any], service: dict[str, Any], configuration: Configuration = None
) -> bool:
    """True once the injected fault is observably live (requests are affected by it).

    With the mlchaos control, a False here interrupts the method (the rollbacks still run):
    waiting for reactions to an inactive fault would measure nothing.
    """
    parsed = TypeAdapter(Fault).validate_python(fault)
    target = Service.model_validate(service)
    return fault_type(parsed.type).confirm(journal_from(configuration), target, parsed)


def wait_for_alert(
    prometheus_url: str,
    alert: str,
    give_up_after_s: float,
    adapters: Adapters = None,
    configuration: Configuration = None,
    prometheus_access: dict[str, str] | None = None,
) -> bool:
    """Wait for ``alert`` to become active (pending) after injection: detection."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    look = events.detected(
        _metrics(prometheus_url, adapters, prometheus_access),
        alert,
        injected,
    )
    return events.wait_for(journal, Event.DETECTED, f"alert {alert} pending", deadline, look)


def wait_for_firing(
    prometheus_url: str,
    alert: str,
    give_up_after_s: float,
    adapters: Adapters = None,
    configuration: Configuration = None,
    prometheus_access: dict[str, str] | None = None,
) -> bool:
    """Wait for ``alert`` to fire (its ``for`` after going pending): what Alertmanager acts on."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    if _undefined(journal):
        return _never(journal, Event.FIRED, f"no rule defines {alert}, so it cannot fire")
    look = events.fired(
        _metrics(prometheus_url, adapters, prometheus_access),
        alert,
        injected,
    )
    return events.wait_for(journal, Event.FIRED, f"alert {alert} firing", deadline, look)


def wait_for_page(
    pagerduty_url: str,
    service: str,
    give_up_after_s: float,
    ca_file: str | None = None,
    alert: str | None = None,
    pipeline: dict[str, Any] | None = None,
    adapters: Adapters = None,
    pagerduty_rest: dict[str, Any] | None = None,
    configuration: Configuration = None,
) -> bool:
    """Wait for an incident on the PagerDuty ``service`` after injection (paging), for
    ``alert`` when given. ``pipeline`` names the components a page passes through
    (``{"Prometheus": url, "Alertmanager": url}``): if one is down, no page is *cannot tell*.
    """
    journal, injected, deadline = _window(configuration, give_up_after_s)
    if alert is not None and _undefined(journal):
        return _never(journal, Event.PAGED, f"no rule defines {alert}, so nothing pages for it")
    pager = _pager(pagerduty_url, ca_file, adapters, pagerduty_rest, service)
    look = events.paged(pager, service, injected, alert)
    return events.wait_for(
        journal, Event.PAGED, f"incident on {service}", deadline, look, _depends(pipeline)
    )


def _undefined(journal: Journal) -> bool:
    """Whether detection found that no rule defines the alert: then it can neither fire nor
    page, and waiting for either would only keep the fault in for nothing."""
    return any(r.event is Event.DETECTED and r.status == "undefined" for r in journal.of(Missed))


def _never(journal: Journal, event: Event, reason: str) -> bool:
    journal.write(Missed(event=event, status="undefined", reason=reason))
    return False


def _depends(pipeline: dict[str, Any] | None) -> Any:
    return (lambda: down(pipeline)) if pipeline else None


def wait_for_acknowledgement(
    pagerduty_url: str,
    service: str,
    give_up_after_s: float,
    ca_file: str | None = None,
    adapters: Adapters = None,
    pagerduty_rest: dict[str, Any] | None = None,
    within_s: float | None = None,
    configuration: Configuration = None,
) -> bool:
    """Wait for the incident that paged to be acknowledged: until ``within_s`` after the page
    when given (the acknowledgement's target runs from the page), else ``give_up_after_s``
    after injection."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    page = _the_page(journal, Event.ACKNOWLEDGED, "acknowledgement", "be acknowledged")
    if page is None:
        return False
    deadline = _from_page(page, within_s, deadline)
    incidents = _pager(pagerduty_url, ca_file, adapters, pagerduty_rest, service)
    look = events.acknowledged(incidents, service, injected, page.detail["incident"], journal)
    return events.wait_for(journal, Event.ACKNOWLEDGED, "acknowledgement", deadline, look)


def wait_for_escalation(
    pagerduty_url: str,
    service: str,
    give_up_after_s: float,
    ca_file: str | None = None,
    adapters: Adapters = None,
    pagerduty_rest: dict[str, Any] | None = None,
    within_s: float | None = None,
    configuration: Configuration = None,
) -> bool:
    """Wait for the incident that paged to escalate (nobody acknowledged it in time): until
    ``within_s`` after the page when given, else ``give_up_after_s`` after injection."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    page = _the_page(journal, Event.ESCALATED, "escalation", "escalate")
    if page is None:
        return False
    deadline = _from_page(page, within_s, deadline)
    incidents = _pager(pagerduty_url, ca_file, adapters, pagerduty_rest, service)
    look = events.escalated(incidents, service, injected, page.detail["incident"])
    return events.wait_for(journal, Event.ESCALATED, "escalation", deadline, look)


def _the_page(journal: Any, event: Event, noun: str, verb: str) -> EventRecord | None:
    """The page an acknowledgement or an escalation follows; without one, ``event`` is
    recorded missed (*cannot tell* when the page itself could not be observed)."""
    page = next((r for r in journal.of(EventRecord) if r.event is Event.PAGED), None)
    if page is None:
        unseen = any(
            r.event is Event.PAGED and r.status == "unreachable" for r in journal.of(Missed)
        )
        journal.write(
            Missed(
                event=event,
                status="unreachable" if unseen else "timeout",
                reason=f"the page could not be observed, so neither can its {noun}"
                if unseen
                else f"nothing paged, so nothing could {verb}",
            )
        )
    return page


def _from_page(page: EventRecord, within_s: float | None, deadline: Any) -> Any:
    """A target that runs from the page ends ``within_s`` after it; else at ``deadline``."""
    if within_s is None:
        return deadline
    return parse_time(page.start) + timedelta(seconds=within_s)


def wait_for_mitigation(
    by: str,
    service: dict[str, Any],
    give_up_after_s: float,
    pipeline: dict[str, Any] | None = None,
    served_below: float = 0.05,
    stays_for_s: float = 5.0,
    min_success: float = 0.9,
    configuration: Configuration = None,
) -> bool:
    """Wait for the mitigation ``by`` names, read from what is served at the gateway:

    ``rollback``: the injected version gives less than ``served_below`` of the answers for
    ``stays_for_s`` (a rollback in the registry that never reached the server is none);
    ``fallback``: the service file's ``versions.fallback`` gives all but ``served_below`` of
    them, at least ``min_success`` of them 2xx, for ``stays_for_s``.

    Who did it comes from the registry's audit log where it keeps one, and it is mlchaos's
    (simulated) when mlchaos's responder acted first. Mitigation is set off by alerts and
    pages, so with a component of ``pipeline`` down, none is *cannot tell*.
    """
    journal, injected, deadline = _window(configuration, give_up_after_s)
    target = Service.model_validate(service)
    gateway = traffic(target)
    audit = _audit_of(target)
    if by == "rollback":
        version = str(_injected_detail(journal).get("version", ""))
        who = events.attribute(journal, audit, ("rollback",), injected)
        look = events.served_off(gateway, version, injected, served_below, stays_for_s, who)
        what = f"version {version} of {target.model} going out of service"
    else:
        fallback = target.versions.fallback
        who = events.attribute(journal, audit, ("fallback_on",), injected)
        look = events.fallback_served(
            gateway, fallback, injected, served_below, stays_for_s, min_success, who
        )
        what = f"the fallback ({', '.join(fallback)}) answering for {target.model}"
    return events.wait_for(journal, Event.MITIGATED, what, deadline, look, _depends(pipeline))


def wait_for_rollout(
    expected: str,
    service: dict[str, Any],
    give_up_after_s: float,
    stays_for_s: float = 5.0,
    configuration: Configuration = None,
) -> bool:
    """Watch the team's rollout of the injected candidate, never drive it, until it
    ``aborted`` or ``promoted`` (`mlchaos.observe.rollout`), read from the answers the gateway
    saw. The other outcome ends the wait too: a bad version promoted, or a good one aborted
    (a false abort), is the expected event missed, with the outcome as its reason. What the
    watch saw (the largest share the candidate reached, its share at the end) is journalled."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    target = Service.model_validate(service)
    version = str(_injected_detail(journal).get("version", ""))
    outcome: Literal["aborted", "promoted"] = "aborted" if expected == "aborted" else "promoted"
    serving = None
    if target.registry_url is not None:
        registry = registry_at(target.registry_url, target.adapters.registry, target.versions.alias)
        serving = lambda: registry.model(target.model).get("production")  # noqa: E731
    watched = events.RolloutWatch(
        traffic(target), version, injected, stays_for_s, journal, outcome, serving,
        _controller(target),
    )  # fmt: skip
    event = Event.ABORTED if outcome == "aborted" else Event.PROMOTED
    what = f"rollout {'abort' if event is Event.ABORTED else 'promotion'} of candidate {version}"
    try:
        return events.wait_for(journal, event, what, deadline, watched.look)
    except events.Contrary as contrary:
        seen = contrary.seen
        other = Event.PROMOTED if event is Event.ABORTED else Event.ABORTED
        journal.write(EventRecord(
            event=other, time=seen.time, source=seen.source, detail=seen.detail,
            actor=seen.actor, party=seen.party,
        ))  # fmt: skip
        journal.write(Missed(event=event, status="timeout", reason=contrary.reason))
        return False
    finally:
        watched.record()


def search_for_canaries(
    service: dict[str, Any],
    search_for_s: float,
    interval_s: float = 2.0,
    configuration: Configuration = None,
) -> bool:
    """Search every place the service file's ``privacy.sinks`` name for the canaries the
    injection sent, again and again for ``search_for_s`` after the last was answered (a log is
    flushed late, Prometheus scrapes on its own clock); a find ends it. What was read and found
    is journalled. True when nothing was found and every place could be searched."""
    from mlchaos.faults.pii_canary import ANSWERS, planted
    from mlchaos.observe import privacy

    journal = journal_from(configuration)
    target = Service.model_validate(service)
    found = [r for r in journal.of(EventRecord) if r.event is Event.INJECTED]
    if not found or target.privacy is None:
        return False
    detail = dict(found[-1].detail)
    marker = str(detail.get("marker", ""))
    values = planted(detail)
    since = parse_time(found[-1].time)
    answered = parse_time(str(detail.get("last_answered_at") or found[-1].time))
    deadline = answered + timedelta(seconds=search_for_s)
    answers = privacy.Searched(
        ANSWERS, read=f"{detail.get('answered_2xx', 0)} answer(s) of {detail.get('requests')}",
        finds=[privacy.Find(**f) for f in detail.get("answer_finds", [])],
    )  # fmt: skip
    metrics = metrics_at(target.prometheus_url, target.adapters.metrics,
                         target.prometheus_access)  # fmt: skip
    started = datetime.now(UTC)
    searches = 0
    while True:
        searched = privacy.search_sinks(
            target.privacy.sinks, target.hook_dir, metrics, since, values, marker)
        searches += 1
        if answers.finds or any(s.finds for s in searched) or datetime.now(UTC) >= deadline:
            break
        time.sleep(min(interval_s, max(0.0, (deadline - datetime.now(UTC)).total_seconds())))
    journal.write(PrivacySearched(
        marker=marker, started=started.isoformat(), ended=datetime.now(UTC).isoformat(),
        searches=searches, sinks=[s.as_dict() for s in (answers, *searched)],
    ))  # fmt: skip
    return not answers.finds and not any(s.finds or s.error for s in searched)


def await_approval(
    service: dict[str, Any],
    rejected_within_s: float,
    never_served_for_s: float,
    configuration: Configuration = None,
) -> bool:
    """Run the team's retrain step on the poisoned snapshot and watch its approval gate
    (`mlchaos.observe.approval`): every version registered since the poison, its decision,
    and whether it was served. What was seen is journalled. True when every one was rejected
    in time and none served."""
    from mlchaos.observe import approval

    journal = journal_from(configuration)
    target = Service.model_validate(service)
    found = [r for r in journal.of(EventRecord) if r.event is Event.INJECTED]
    if not found or target.training is None:
        return False
    since = parse_time(found[-1].time).timestamp()
    seen = approval.watch(target, since, rejected_within_s, never_served_for_s)
    journal.write(ApprovalWatched(**seen.as_record()))
    return bool(seen.versions) and all(
        v.outcome == "rejected" and v.time_to_decision_s is not None
        and v.time_to_decision_s <= rejected_within_s
        and v.alias_named_at is None and not v.served_answers
        for v in seen.versions
    )  # fmt: skip


def _controller(target: Service) -> Any:
    """What the service file's ``rollout.reported_by`` controller says, as a dict; None when
    the service names none. Never raises: an unreadable account says why."""
    reported = target.rollout.reported_by if target.rollout else None
    if reported is None:
        return None
    ref = reported.argo_rollouts or reported.flagger
    assert ref is not None
    kind = ArgoRollouts if reported.argo_rollouts else Flagger

    def said() -> dict[str, Any]:
        try:
            metrics = metrics_at(target.prometheus_url, target.adapters.metrics,
                                 target.prometheus_access)  # fmt: skip
            return asdict(kind(metrics, ref.namespace, ref.name).said())
        except MlchaosError as exc:
            return {"controller": kind.name, "reason": str(exc)}

    return said


def _audit_of(target: Service) -> Any:
    """The registry's audit log of the model, where the registry keeps one (it names who
    acted); None where it does not."""
    if target.registry_url is None:
        return None
    registry = registry_at(target.registry_url, target.adapters.registry, target.versions.alias)
    return lambda: registry.audit(target.model)


def _injected_detail(journal: Journal) -> dict[str, Any]:
    injected = (r for r in journal.of(EventRecord) if r.event is Event.INJECTED)
    return next((dict(r.detail) for r in injected), {})


def wait_for_recovery(
    prometheus_url: str,
    slos: list[dict[str, Any]],
    give_up_after_s: float,
    step_s: float = 0.1,
    stable_for_s: float = 3.0,
    gateway_url: str | None = None,
    min_success: float = 0.9,
    pipeline: dict[str, Any] | None = None,
    adapters: Adapters = None,
    configuration: Configuration = None,
    prometheus_access: dict[str, str] | None = None,
) -> bool:
    """Wait until every SLO holds again, stably, after its breach, and (with ``gateway_url``)
    the gateway answers at least ``min_success`` of requests with a 2xx again (recovery).
    Recovery follows mitigation, which alerts set off: with a component of ``pipeline`` down,
    no recovery is *cannot tell*."""
    journal, injected, deadline = _window(configuration, give_up_after_s)
    objectives = tuple(Slo.model_validate(s) for s in slos)
    gateway = traffic_at(gateway_url, *_kind(adapters, "traffic")) if gateway_url else None
    look = events.recovered(
        _metrics(prometheus_url, adapters, prometheus_access), objectives, injected, step_s,
        stable_for_s, gateway, min_success, journal,
    )  # fmt: skip
    return events.wait_for(
        journal, Event.RECOVERED, "SLO recovery", deadline, look, _depends(pipeline)
    )


def _metrics(url: str, adapters: Adapters, access: dict[str, str] | None) -> Any:
    kind = _kind(adapters, "metrics") or ("prometheus",)
    return metrics_at(url, kind[0], Access.model_validate(access) if access else None)


def _pager(
    url: str, ca_file: str | None, adapters: Adapters, rest: dict[str, Any] | None, service: str
) -> Any:
    kind = _kind(adapters, "pager") or ("receiver",)
    spec = PagerDutyRest.model_validate(rest) if rest else None
    return pager_at(url, _path(ca_file), kind[0], spec, service)


def _path(ca_file: str | None) -> Any:
    from pathlib import Path

    return Path(ca_file) if ca_file else None
