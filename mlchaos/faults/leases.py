"""Fault leases in the journal: record the undo before acting, and end every lease a journal
holds (the experiment's rollback, and `mlchaos recover`). Plugins use the same calls."""

from __future__ import annotations

import threading
from typing import Any

from mlchaos.journal import EventRecord, Journal, Lease, LeaseAcquired, LeaseEnded
from mlchaos.vocabulary import INJECTOR, Event, Party

__all__ = [
    "ACTOR",
    "last_intent",
    "next_intent",
    "open_leases",
    "record_granted",
    "record_injected",
    "record_intent",
    "revert_all",
]

ACTOR = INJECTOR
"""Who mlchaos says it is in every target's audit log; responders are told apart by it."""


def open_leases(journal: Journal) -> list[tuple[dict[str, Any], str | None]]:
    """(intent, lease id or None) for every lease the journal started and did not end.

    Intents and grants are matched by their ``intent`` number, so an intent whose grant was
    never written (a crash between the two) is still undone.
    """
    records = journal.read()
    granted = {r.intent: r.lease_id for r in records if isinstance(r, LeaseAcquired)}
    ended = {r.intent for r in records if isinstance(r, LeaseEnded)}
    return [
        (r.as_intent(), granted.get(r.intent))
        for r in records
        if isinstance(r, Lease) and r.intent not in ended
    ]


_REVERTING = threading.Lock()
"""One revert at a time in a process: a stop condition's and the run's own may meet."""


def revert_all(journal: Journal) -> list[dict[str, Any]]:
    """End each open lease through its target; record ``lease_ended`` and ``reverted``."""
    with _REVERTING:
        return _revert_all(journal)


def _revert_all(journal: Journal) -> list[dict[str, Any]]:
    ended = []
    for intent, lease_id in open_leases(journal):
        from mlchaos.faults.targets import target

        audit = target(intent["target"]).end_lease(journal, intent, lease_id)
        journal.write(
            LeaseEnded(intent=intent["intent"], lease_id=lease_id, action=audit["action"])
        )
        journal.write(
            EventRecord(
                event=Event.REVERTED,
                time=audit["at"],
                source=audit.get("source") or f"{intent['target']} audit log ({audit['action']})",
                detail={"by": audit["actor"], "note": audit.get("reason", "")},
                actor=str(audit["actor"]),
                party=Party.MLCHAOS,  # the end of mlchaos's own lease, whoever's timer ran out
            )
        )
        ended.append(audit)
    return ended


def last_intent(journal: Journal, target: str) -> dict[str, Any] | None:
    """The newest lease ``target`` recorded, with its details, as targets receive it."""
    found = [r for r in journal.of(Lease) if r.target == target]
    return found[-1].as_intent() if found else None


def next_intent(journal: Journal) -> int:
    return len(journal.of(Lease))


def record_intent(journal: Journal, target: str, undo: str, **detail: Any) -> int:
    """Write what will have to be undone, before acting; return the intent's number."""
    intent = next_intent(journal)
    journal.write(Lease(intent=intent, target=target, undo=undo, **detail))
    return intent


def record_granted(journal: Journal, intent: int, lease_id: str, expires_at: str) -> None:
    journal.write(LeaseAcquired(intent=intent, lease_id=lease_id, expires_at=expires_at))


def record_injected(journal: Journal, at: str, source: str, detail: dict[str, Any]) -> None:
    """The ``injected`` event, with the time the target itself recorded: mlchaos's doing."""
    journal.write(
        EventRecord(
            event=Event.INJECTED, time=at, source=source, detail=detail, actor=INJECTOR,
            party=Party.MLCHAOS,
        )
    )  # fmt: skip
