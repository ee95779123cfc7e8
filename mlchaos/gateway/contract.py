"""What a gateway fault does to a request: the contract between a fault's module and the gateway.

A gateway fault lives in one module (`mlchaos.faults.schema_change`, ...) that holds both of
its halves: the parameters the runner works out for it (``params``) and its behaviour on a
request, a `RequestFault` subclass. The module's ``FAULT`` is registered in the
``mlchaos.faults`` entry-point group like every other fault, and `behaviour` loads the one
a lease names, by its ``on_request``. The gateway's server is a dispatcher: it draws whether
each lease selects a request, and calls the hooks of the stage the fault acts at:

- ``request``: `RequestFault.rewrite` changes the request's columns before it goes upstream;
- ``answer``: once the answer says which version gave it, and only for the versions the
  fault is on, `RequestFault.delay` holds it and `RequestFault.answer` replaces it;
- ``label``: `RequestFault.mark` notes the requests it selects, and `RequestFault.relabel`
  changes the labels clients post back for them later.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

from mlchaos.protocols import Column
from mlchaos.schema.experiment import GATEWAY_FAULT_TYPES

__all__ = [
    "GROUP",
    "KNOWN",
    "STAGES",
    "FaultError",
    "Lease",
    "RequestFault",
    "behaviour",
    "longest_hold",
    "replacement",
]

STAGES = ("request", "answer", "label")
GROUP = "mlchaos.faults"
KNOWN = GATEWAY_FAULT_TYPES
"""The gateway faults an experiment file can name (its schema's list)."""


class FaultError(ValueError):
    """An injection request the gateway cannot honour."""


class RequestFault:
    """A gateway fault's behaviour. Every hook does nothing unless the fault overrides it."""

    stage: ClassVar[Literal["request", "answer", "label"]]

    def changes_something(self, params: dict[str, Any]) -> bool:
        """Whether a lease with these parameters would change anything (else it is refused)."""
        return True

    def rewrite(self, lease: Lease, columns: list[Column]) -> list[Column]:
        """``request``: the columns of a selected request, changed."""
        return columns

    def delay(self, lease: Lease) -> float:
        """``answer``: seconds to hold a selected answer (held no longer than the lease)."""
        return 0.0

    def answer(self, lease: Lease) -> tuple[int, dict[str, Any]] | None:
        """``answer``: the status and JSON body that replace a selected answer, or None."""
        return None

    def mark(self, lease: Lease, request_id: str) -> None:
        """``label``: a request the lease selected, whose outcome it will change."""

    def relabel(self, lease: Lease, item: dict[str, Any]) -> dict[str, Any] | None:
        """``label``: one label posted back, changed; None when the lease leaves it alone."""
        return None


@dataclass
class Lease:
    id: str
    type: str
    params: dict[str, Any]
    share: float
    seed: int
    holder: str
    created_at: datetime
    expires_at: datetime
    rng: random.Random = field(repr=False)
    fault: RequestFault = field(repr=False)
    applied: int = 0
    unrewritten: int = 0
    """Requests it selected that it could not change, never counted applied: a body the
    gateway cannot rewrite, or an answer from a version the fault is not on."""
    why_not: str = ""
    """Why the last of those was not changed."""
    marked: set[str] = field(default_factory=set, repr=False)
    """For a ``label`` fault: ids of requests made while the lease held, whose outcome changes."""
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set when the lease ends (revert or TTL): requests it is delaying go on at once."""

    def selects(self) -> bool:
        """One draw per request from this lease's own stream."""
        return self.rng.random() < self.share

    def on_version(self, version: str | None) -> bool:
        """Whether an answer by ``version`` is one an ``answer`` fault is on: the versions that
        served when it was injected (all answers, when the service names no version). One it
        is not on is counted, with why."""
        scope = self.params.get("versions") or []
        if not scope or version in scope:
            return True
        self.unrewritten += 1
        answered = version or "an unnamed version"
        self.why_not = f"answers came from {answered}, not {', '.join(scope)}"
        return False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "params": self.params,
            "share": self.share,
            "seed": self.seed,
            "holder": self.holder,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "applied": self.applied,
            "unrewritten": self.unrewritten,
            "why_not": self.why_not,
        }


def longest_hold(leases: list[Lease]) -> tuple[float, Lease] | None:
    """The delay an answer is held for, the longest its ``answer`` leases draw, and the lease
    whose end releases it (a 100 h delay must not outlive its lease); None when none delays."""
    delays = [(lease.fault.delay(lease), lease) for lease in leases]
    delays = [(delay, lease) for delay, lease in delays if delay > 0]
    return max(delays, key=lambda pair: pair[0]) if delays else None


def replacement(leases: list[Lease]) -> tuple[int, dict[str, Any]] | None:
    """The answer the first ``answer`` lease that replaces answers gives instead, or None."""
    for lease in leases:
        replaced = lease.fault.answer(lease)
        if replaced is not None:
            return replaced
    return None


@cache
def behaviour(kind: str) -> RequestFault:
    """The behaviour on requests of the fault registered as ``kind``; only its own module is
    imported. `FaultError` when no such fault acts at the gateway."""
    for point in entry_points(group=GROUP, name=kind):
        try:
            fault = point.load()
        except Exception as exc:  # a broken plugin cannot take the gateway down
            raise FaultError(f"fault type {kind!r} cannot be loaded: {exc!r}") from exc
        found = getattr(fault, "on_request", None)
        if isinstance(found, RequestFault):
            return found
    raise FaultError(f"unknown fault type {kind!r}; the gateway applies {', '.join(KNOWN)}")
