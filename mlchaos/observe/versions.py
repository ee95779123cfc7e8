"""The version-mismatch fraction: of the answers given while a bad version was promoted, the
share it gave, as the answers themselves said (the gateway reads each answer's version).

Model-risk guides name it a key signal of a bad rollout: how much traffic the wrong model
served, whatever the alerts and the registry say.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.observe.adapters import TrafficFaults

__all__ = ["SOURCE", "fraction", "measure", "off_since"]

SOURCE = "gateway: each answer's x-model-version header or OIP model_version"


def fraction(
    rows: Sequence[tuple[int, str, int]], version: str, start: float, end: float
) -> tuple[float | None, int]:
    """The share of answers in ``[start, end)`` given by ``version``, and how many answers
    carried a version at all (None when none did: nothing can be said)."""
    window = [(v, n) for s, v, n in rows if start <= s < end]
    answered = sum(n for _, n in window)
    by_it = sum(n for v, n in window if v == version)
    return (by_it / answered if answered else None), answered


def off_since(
    rows: Sequence[tuple[int, str, int]], version: str, start: float, now: float,
    below: float, stays_for_s: float,
) -> float | None:  # fmt: skip
    """The first second from which ``version`` gave less than ``below`` of the answers in every
    second that had answers, up to ``now`` (the second under way aside), provided that has
    lasted ``stays_for_s``; None until then. A second with no answer says nothing."""
    whole = int(now)  # the second under way is not over: it is not judged yet
    shares: dict[int, list[int]] = {}
    for s, v, n in rows:
        if start - 1 < s < whole:
            by_it, total = shares.setdefault(s, [0, 0])
            shares[s] = [by_it + (n if v == version else 0), total + n]
    seconds = sorted(s for s, (_, total) in shares.items() if total)
    last_high = max((s for s in seconds if shares[s][0] / shares[s][1] >= below), default=None)
    after = [s for s in seconds if last_high is None or s > last_high]
    if not after or whole - after[0] < stays_for_s:
        return None
    return float(after[0])


def measure(
    gateway: TrafficFaults, version: str, injected: datetime, ended: datetime
) -> dict[str, Any]:
    """The fraction over the fault's window, for results.json."""
    start, end = injected.timestamp(), ended.timestamp()
    try:
        rows = gateway.versions(start - 1)
    except MlchaosError as exc:
        return {"version": version, "fraction": None, "answered": 0, "reason": str(exc)}
    share, answered = fraction(rows, version, int(start), end)
    found = {"version": version, "fraction": share, "answered": answered, "source": SOURCE}
    if share is None:
        found["reason"] = "no answer carried a model version"
    return found
