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

__all__ = ["SOURCE", "fraction", "held_since", "measure", "off_since", "on_since"]

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


def held_since(good: dict[int, bool], start: float, now: float, stays_for_s: float) -> float | None:
    """The first second from which every judged second in ``[start, now)`` (the second under
    way aside) was good, provided that has lasted ``stays_for_s`` and at least one second was
    bad before: a change nobody saw happen is no change. None until then."""
    whole = int(now)  # the second under way is not over: it is not judged yet
    seconds = sorted(s for s in good if start - 1 < s < whole)
    last_bad = max((s for s in seconds if not good[s]), default=None)
    if last_bad is None:
        return None
    after = [s for s in seconds if s > last_bad]
    if not after or whole - after[0] < stays_for_s:
        return None
    return float(after[0])


def off_since(
    rows: Sequence[tuple[int, str, int]], version: str, start: float, now: float,
    below: float, stays_for_s: float,
) -> float | None:  # fmt: skip
    """The first second from which ``version`` gave less than ``below`` of the answers in every
    second that had answers, up to ``now`` (the second under way aside), provided that has
    lasted ``stays_for_s`` and ``version`` was seen answering before; None until then. A
    second with no answer says nothing."""
    return held_since(_shares(rows, {version}, below, high_is_good=False), start, now, stays_for_s)


def on_since(
    rows: Sequence[tuple[int, str, int]], versions: set[str], start: float, now: float,
    at_least: float, stays_for_s: float, serving: dict[int, bool] | None = None,
) -> float | None:  # fmt: skip
    """The first second from which ``versions`` gave at least ``at_least`` of the answers
    (and, with ``serving``, the second's answers were good) in every second that had answers,
    provided that has lasted ``stays_for_s`` and some second before was not so."""
    good = _shares(rows, versions, at_least, high_is_good=True)
    if serving is not None:
        good = {s: ok and serving.get(s, False) for s, ok in good.items()}
    return held_since(good, start, now, stays_for_s)


def _shares(
    rows: Sequence[tuple[int, str, int]], versions: set[str], bound: float, high_is_good: bool
) -> dict[int, bool]:
    """Per second with answers: whether the share ``versions`` gave is on the good side."""
    shares: dict[int, list[int]] = {}
    for s, v, n in rows:
        by_them, total = shares.setdefault(s, [0, 0])
        shares[s] = [by_them + (n if v in versions else 0), total + n]
    return {
        s: (by / total >= bound) if high_is_good else (by / total < bound)
        for s, (by, total) in shares.items()
        if total
    }


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
