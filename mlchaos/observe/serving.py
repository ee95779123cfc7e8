"""Is the service *serving*? The share of requests the chaos gateway answered with a 2xx.

A model that rejects every request with a 400 has no 5xx, so an SLO on server errors holds
while nobody is served. The gateway sees every status code, so it decides this, whatever the
service's own metrics call an error:

- before injection, a service that is not serving is not in steady state: *inconclusive*;
- recovery means successful traffic is back, not that the errors changed shape.

    >>> check(journal, traffic(service), min_success=0.9)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from mlchaos.errors import MlchaosError
from mlchaos.journal import Journal, SloCheck
from mlchaos.observe.adapters import TrafficFaults
from mlchaos.vocabulary import CheckRole

__all__ = ["ROLE", "WINDOW_S", "back_since", "check", "recent", "share", "shown_below"]

WINDOW_S = 5
"""Seconds of answers judged at once: enough requests to mean something at 1 req/s."""

ROLE = CheckRole.SERVING
"""The role, and the name, of the checks recorded here."""

Second = tuple[int, int, int]
"""``(epoch second, answered, ok)``."""


def share(seconds: Sequence[Second]) -> tuple[int, float | None]:
    """Requests answered and the share of them that succeeded (None when there were none)."""
    answered = sum(n for _, n, _ in seconds)
    return answered, (sum(ok for _, _, ok in seconds) / answered if answered else None)


def recent(gateway: TrafficFaults) -> tuple[int, float | None]:
    """Requests answered in the last `WINDOW_S` whole seconds, and the share that succeeded."""
    rows, now = gateway.outcomes(datetime.now(UTC).timestamp() - WINDOW_S - 1)
    return share([r for r in rows if now - WINDOW_S - 1 <= r[0] < int(now)])


Z = 1.645
"""One-sided 95%: a service is judged not serving only when that is 95% sure."""


def shown_below(ok: float, answered: int, min_success: float) -> bool:
    """Whether the answers show the success rate is below ``min_success``: the upper Wilson
    bound of the observed share is. 14 of 16 (88%) on a busy runner is not shown below 90%
    (the bound is 96%); 85 of 100 is (90.0% < 90%, just); 0 of 300 plainly is."""
    n, z2 = answered, Z * Z
    centre = ok + z2 / (2 * n)
    spread = Z * math.sqrt(ok * (1 - ok) / n + z2 / (4 * n * n))
    return (centre + spread) / (1 + z2 / n) < min_success


def check(journal: Journal, gateway: TrafficFaults, min_success: float) -> bool:
    """Judge the last `WINDOW_S` whole seconds and record it as an SLO of role ``serving``:
    violated when the answers show the service serves less than ``min_success``."""
    try:
        answered, ok = recent(gateway)
    except MlchaosError as exc:
        journal.write(SloCheck(role=ROLE, name=ROLE, status="unreachable", reason=str(exc)))
        return False
    condition = f">= {min_success:.0%} of requests answered 2xx"
    if ok is None:
        reason = f"no request reached the gateway in the last {WINDOW_S}s"
        journal.write(SloCheck(role=ROLE, name=ROLE, status="no_data", reason=reason))
        return False
    holds = not shown_below(ok, answered, min_success)
    journal.write(
        SloCheck(
            role=ROLE,
            name=ROLE,
            value=ok,
            answered=answered,
            condition=condition,
            status="holds" if holds else "violated",
        )
    )
    return holds


def back_since(
    seconds: Sequence[Second], start: float, end: float, min_success: float
) -> float | None:
    """The first second from which every second up to ``end`` that had answers served (at
    least ``min_success`` of them 2xx); ``start`` if none failed; None if no second after the
    last failing one had answers yet: silence is not health."""
    back: float = start
    answered_since = False
    for second, answered, ok in sorted(s for s in seconds if start <= s[0] < end):
        if answered and ok / answered < min_success:
            back, answered_since = float(second + 1), False
        elif answered:
            answered_since = True
    return back if answered_since else None
