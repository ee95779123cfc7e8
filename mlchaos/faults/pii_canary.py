"""``pii_canary``: send requests that carry unique, fake personal data where the service file's
``privacy.fields`` say requests carry it (`mlchaos.observe.privacy`), each value marked with
this run. The experiment's ``expect.privacy`` then searches the places ``privacy.sinks`` name
(`mlchaos.ctk.probes.search_for_canaries`); any marker found fails it, naming where.

It is live once the service took the canaries: answered them 2xx, so their data went the way
every request's data goes. A canary holds nothing to put back: its lease ends at once, and the
fake values stay where they landed, as the evidence (no real person, no real card).
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import requests

from mlchaos.errors import TargetError
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.journal import EventRecord, FaultActive, Journal
from mlchaos.observe.model import Answer, ModelEndpoint
from mlchaos.observe.privacy import Canary, canaries, search_text
from mlchaos.schema.experiment import PiiCanaryFault, PiiKind
from mlchaos.schema.service import Privacy
from mlchaos.service import Service
from mlchaos.vocabulary import Event

__all__ = ["ANSWERS", "FAULT", "TARGET", "PiiCanaryKind", "planted", "with_canaries"]

TARGET = "canary"
ANSWERS = "answers"
"""The sink name of the canaries' own answers."""


class PiiCanaryKind:
    type = "pii_canary"
    TARGET = TARGET

    def misfits(self, service: Service, fault: PiiCanaryFault) -> list[tuple[str, str]]:
        if service.privacy is None:
            return [("type", "the service file has no 'privacy' section: where requests carry "
                             "personal data (fields) and where data lands (sinks)")]  # fmt: skip
        if service.payload is None:
            return [("type", "the service file names no payload: canaries are built on its "
                             "requests")]  # fmt: skip
        return []

    def ready(self, service: Service, fault: PiiCanaryFault) -> str:
        privacy = _privacy(service)
        body = with_canaries(ModelEndpoint.of(service).first_request(), privacy, "0" * 8, 0)
        answer = ModelEndpoint.of(service).infer(body)
        if not answer.ok:
            raise TargetError(f"a canary request was answered {answer.status}: {answer.text}")
        return (f"a canary request ({', '.join(sorted(set(privacy.fields.values())))}) is "
                f"answered {answer.status}; {fault.requests} would be sent, then "
                f"{len(privacy.sinks)} place(s) searched")  # fmt: skip

    def inject(self, journal: Journal, service: Service, fault: PiiCanaryFault) -> str:
        privacy = _privacy(service)
        model = ModelEndpoint.of(service)
        rows = model.payload_requests()
        lease_id = uuid.uuid4().hex[:12]
        marker = lease_id[:8]
        kinds = list(privacy.fields.values())
        intent = record_intent(
            journal, TARGET, undo="nothing to put back: the canaries were requests",
            marker=marker, requests=fault.requests, kinds=kinds,
        )  # fmt: skip
        now = time.time()
        record_granted(journal, intent, lease_id,
                       datetime.fromtimestamp(now + fault.ttl, UTC).isoformat())  # fmt: skip
        answers: list[Answer] = []
        finds: list[dict[str, Any]] = []
        failures: list[str] = []
        first = datetime.now(UTC)
        with requests.Session() as session:
            for n in range(fault.requests):
                body = with_canaries(rows[n % len(rows)], privacy, marker, n)
                try:
                    answer = model.infer(body, session=session)
                except TargetError as exc:
                    failures.append(str(exc))
                    continue
                answers.append(answer)
                planted_here = canaries(marker, n, kinds)
                finds += [f.as_dict() for f in search_text(
                    ANSWERS, f"answer to canary {n + 1}", answer.body, planted_here, marker)]
        ok = sum(a.ok for a in answers)
        detail = {
            "marker": marker, "requests": fault.requests, "answered_2xx": ok,
            "kinds": sorted(set(kinds)), "fields": sorted(privacy.fields),
            "answer_finds": finds,
            "last_answered_at": datetime.now(UTC).isoformat(),
            **({"unanswered": failures[:3]} if failures else {}),
            **({"statuses": sorted({a.status for a in answers if not a.ok})}
               if ok < len(answers) else {}),
        }  # fmt: skip
        source = f"{fault.requests} canary request(s) through {model.url}"
        record_injected(journal, first.isoformat(), source, detail)
        return lease_id

    def confirm(self, journal: Journal, service: Service, fault: PiiCanaryFault) -> bool:
        """Live once the service took canaries: answered them 2xx (their data went through)."""
        detail = _injected_detail(journal)
        ok = int(detail.get("answered_2xx", 0))
        if ok == 0:  # the answers are in already: nothing more will come
            said = detail.get("unanswered") or [f"answered {detail.get('statuses')}"]
            journal.write(FaultActive(
                active=False, evidence=f"the service took none of the canaries: {said[0]}"))
            return False
        journal.write(FaultActive(active=True, evidence=(
            f"{ok} of {detail.get('requests')} canary request(s) were answered 2xx: their data "
            "went the way every request's goes")))  # fmt: skip
        return True

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return {"at": datetime.now(UTC).isoformat(), "actor": ACTOR,
                "action": "nothing held: the canaries were requests, and their fake values "
                          "stay where they landed",
                "source": "canary: nothing to put back"}  # fmt: skip


def with_canaries(body: Any, privacy: Privacy, marker: str, n: int) -> Any:
    """``body`` (a request of the payload) with each of ``privacy.fields`` set to canary
    request ``n``'s value of its kind."""
    if not isinstance(body, dict):
        raise TargetError("a canary goes into a JSON object request; the payload's is not one")
    changed = copy.deepcopy(body)
    values = {c.kind: c.value for c in canaries(marker, n, list(privacy.fields.values()))}
    for path, kind in privacy.fields.items():
        *parents, leaf = path.split(".")
        node = changed
        for part in parents:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise TargetError(f"privacy.fields {path}: {part} is not an object in the request")
            node = nxt
        node[leaf] = values[kind]
    return changed


def planted(detail: dict[str, Any]) -> list[Canary]:
    """Every canary value the injection (its ``injected`` detail) sent."""
    kinds: list[PiiKind] = list(detail.get("kinds", []))
    marker = str(detail.get("marker", ""))
    return [c for n in range(int(detail.get("requests", 0))) for c in canaries(marker, n, kinds)]


def _privacy(service: Service) -> Privacy:
    if service.privacy is None:
        raise TargetError("the service file has no 'privacy' section")
    return service.privacy


def _injected_detail(journal: Journal) -> dict[str, Any]:
    found = [r for r in journal.of(EventRecord) if r.event is Event.INJECTED]
    return dict(found[-1].detail) if found else {}


FAULT = PiiCanaryKind()
