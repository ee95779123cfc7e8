"""End every lease a journal holds: the experiment's rollback, and `mlchaos recover`."""

from __future__ import annotations

from typing import Any

from mlchaos.engine.journal import Journal
from mlchaos.faults import kind_for_target


def open_leases(journal: Journal) -> list[tuple[dict[str, Any], str | None]]:
    """(intent, lease id or None) for every lease the journal started and did not end.

    Intents and grants are matched by their ``intent`` number, so an intent whose grant was
    never written (a crash between the two) is still undone.
    """
    records = journal.read()
    granted = {r["intent"]: r["lease_id"] for r in records if r["type"] == "lease_acquired"}
    ended = {r["intent"] for r in records if r["type"] == "lease_ended"}
    return [
        (r, granted.get(r["intent"]))
        for r in records
        if r["type"] == "lease" and r["intent"] not in ended
    ]


def revert_all(journal: Journal) -> list[dict[str, Any]]:
    """End each open lease through its target; record ``lease_ended`` and ``reverted``."""
    ended = []
    for intent, lease_id in open_leases(journal):
        audit = kind_for_target(intent["target"]).end_lease(journal, intent, lease_id)
        journal.write(
            "lease_ended", intent=intent["intent"], lease_id=lease_id, action=audit["action"]
        )
        journal.write(
            "event",
            event="reverted",
            time=audit["at"],
            source=f"{intent['target']} audit log ({audit['action']})",
            detail={"by": audit["actor"], "note": audit.get("reason", "")},
        )
        ended.append(audit)
    return ended


def next_intent(journal: Journal) -> int:
    return sum(1 for r in journal.read() if r["type"] == "lease")


def record_intent(journal: Journal, target: str, undo: str, **detail: Any) -> int:
    """Write what will have to be undone, before acting; return the intent's number."""
    intent = next_intent(journal)
    journal.write("lease", intent=intent, target=target, undo=undo, **detail)
    return intent


def record_granted(journal: Journal, intent: int, lease_id: str, expires_at: str) -> None:
    journal.write("lease_acquired", intent=intent, lease_id=lease_id, expires_at=expires_at)


def record_injected(journal: Journal, at: str, source: str, detail: dict[str, Any]) -> None:
    """The ``injected`` event, with the time the target itself recorded."""
    journal.write("event", event="injected", time=at, source=source, detail=detail)
