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

__all__ = ["SOURCE", "fraction", "measure"]

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
