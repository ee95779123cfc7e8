"""A canary, read from what is served: the share of answers the candidate version gave, second
by second, as the gateway saw them. mlchaos starts the team's rollout and never moves a weight;
whether the rollout aborted or promoted, how far the candidate got and when, all come from the
answers themselves (each answer says which version gave it), never from the rollout's status.

- *aborted*: the candidate gave no answer for ``stays_for_s`` while others were served, after it
  had answered, and over enough answers that, at the share it had before, it would have given
  `QUIET_EXPECTED` of them (at a 1% step, 500 answers: a quiet second proves nothing); the
  time is its last answer;
- *promoted*: the candidate gave every answer for ``stays_for_s``; the time is the first
  second of that run;
- the *largest share*: the most it gave over any `SHARE_WINDOW_S` seconds (a single second at
  1% is one answer or none: too coarse to mean anything).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mlchaos.observe import versions

__all__ = [
    "BEFORE_S", "QUIET_EXPECTED", "SHARE_WINDOW_S", "Progress", "largest_share", "progress",
    "quiet_since",
]  # fmt: skip

SHARE_WINDOW_S = 3
QUIET_EXPECTED = 5.0
"""How many answers the candidate would have given, at its share before, in a quiet run that
counts as an abort: with a random router, 5 expected and none given happens by chance 0.7% of
the time; with a round-robin one, never."""
BEFORE_S = 10
"""The seconds before its last answer over which the candidate's share before is taken."""

Rows = Sequence[tuple[int, str, int]]
"""``(second, version, answers)``, as the gateway keeps them."""


@dataclass(frozen=True)
class Progress:
    outcome: Literal["aborted", "promoted", "unsettled"]
    at: float | None
    """When: the candidate's last answer (aborted), the first second it gave all (promoted)."""
    largest_share: float | None
    """The most the candidate gave over any `SHARE_WINDOW_S` seconds; None with no answer."""
    largest_at: int | None
    share_now: float | None
    """Its share over the last `SHARE_WINDOW_S` whole seconds that had answers."""
    answered_by_it: int
    answered: int


def largest_share(
    rows: Rows, version: str, start: float, end: float, window_s: int = SHARE_WINDOW_S
) -> tuple[float | None, int | None]:
    """The largest share ``version`` gave over any ``window_s`` consecutive seconds in
    ``[start, end)``, and the first second of that window (None, None without answers)."""
    by_second: dict[int, list[int]] = {}
    for s, v, n in rows:
        if start - 1 < s < end:
            mine, total = by_second.setdefault(s, [0, 0])
            by_second[s] = [mine + (n if v == version else 0), total + n]
    best: tuple[float | None, int | None] = (None, None)
    for first in sorted(by_second):
        window = [by_second[s] for s in range(first, first + window_s) if s in by_second]
        total = sum(t for _, t in window)
        if total:
            share = sum(m for m, _ in window) / total
            if best[0] is None or share > best[0]:
                best = (share, first)
    return best


def quiet_since(rows: Rows, version: str, whole: int, stays_for_s: float) -> int | None:
    """The second of ``version``'s last answer, when every second after it up to ``whole``
    (at least ``stays_for_s`` of them) went without one, over enough answers (see
    `QUIET_EXPECTED`); None while it answers, or has not been quiet long enough."""
    last = max((s for s, v, n in rows if v == version and n), default=None)
    if last is None or whole - (last + 1) < stays_for_s:
        return None
    before = [(v, n) for s, v, n in rows if last - BEFORE_S < s <= last]
    share = sum(n for v, n in before if v == version) / max(1, sum(n for _, n in before))
    quiet = sum(n for s, _, n in rows if last < s < whole)
    return last if share * quiet >= QUIET_EXPECTED else None


def progress(
    rows: Rows, times: dict[tuple[int, str], tuple[float, float]], version: str, start: float,
    now: float, stays_for_s: float,
) -> Progress:  # fmt: skip
    """How far the rollout of ``version`` has got since ``start`` (its first answer)."""
    whole = int(now)
    shown = [(s, v, n) for s, v, n in rows if start - 1 < s < whole]
    answered = sum(n for _, _, n in shown)
    by_it = sum(n for _, v, n in shown if v == version)
    largest, largest_at = largest_share(shown, version, start, whole)
    seconds = sorted({s for s, _, _ in shown})
    recent = [(s, v, n) for s, v, n in shown if s in seconds[-SHARE_WINDOW_S:]]
    total = sum(n for _, _, n in recent)
    share_now = sum(n for _, v, n in recent if v == version) / total if total else None
    figures = {"largest_share": largest, "largest_at": largest_at, "share_now": share_now,
               "answered_by_it": by_it, "answered": answered}  # fmt: skip
    off = quiet_since(shown, version, whole, stays_for_s)
    if off is not None:
        lasts = [last for (s, v), (_, last) in times.items() if v == version and s <= off]
        return Progress("aborted", max(lasts, default=off), **figures)  # type: ignore[arg-type]
    on = versions.on_since(shown, {version}, start, now, 1.0, stays_for_s)
    if on is not None:
        return Progress("promoted", on, **figures)  # type: ignore[arg-type]
    return Progress("unsettled", None, **figures)  # type: ignore[arg-type]
