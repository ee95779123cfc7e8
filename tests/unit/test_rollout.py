"""A canary read from the answers alone (`mlchaos.observe.rollout`): aborted, promoted or
neither, and how far the candidate got, on second-by-second answer counts as the gateway
keeps them."""

from __future__ import annotations

from mlchaos.observe.rollout import largest_share, progress, quiet_since

T0 = 1_000


def answers(plan: list[tuple[int, int]], start: int = T0) -> list[tuple[int, str, int]]:
    """``(candidate answers, stable answers)`` per second, from ``start``: gateway rows."""
    rows = []
    for i, (candidate, stable) in enumerate(plan):
        rows += [(start + i, "3", candidate)] if candidate else []
        rows += [(start + i, "2", stable)] if stable else []
    return rows


def times(rows: list[tuple[int, str, int]]) -> dict[tuple[int, str], tuple[float, float]]:
    return {(s, v): (s + 0.1, s + 0.9) for s, v, _ in rows}


def test_a_quiet_second_at_1_percent_proves_nothing_a_long_quiet_run_does() -> None:
    # 40 answers a second, 1 in 100 to the candidate: one answer every 2.5 s
    one_percent = [(1, 39), (0, 40), (0, 40), (1, 39), (0, 40)] * 2
    rows = answers(one_percent)
    assert quiet_since(rows, "3", T0 + len(one_percent), stays_for_s=1) is None
    aborted = answers(one_percent + [(0, 40)] * 14)  # 560 answers without it: 5.6 expected
    assert quiet_since(aborted, "3", T0 + 24, stays_for_s=5) == T0 + 8
    assert quiet_since(aborted, "3", T0 + 20, stays_for_s=5) is None  # 400: 4 expected, too few


def test_an_abort_is_timed_to_the_candidates_last_answer() -> None:
    rows = answers([(2, 38)] * 10 + [(0, 40)] * 10)
    found = progress(rows, times(rows), "3", T0, now=T0 + 20.5, stays_for_s=5)
    assert found.outcome == "aborted" and found.at == T0 + 9 + 0.9
    assert found.largest_share == 0.05 and found.share_now == 0.0
    assert (found.answered_by_it, found.answered) == (20, 800)


def test_a_promotion_is_every_answer_from_the_candidate_for_stays_for() -> None:
    steps = [(1, 39)] * 3 + [(10, 30)] * 3 + [(40, 0)] * 6
    rows = answers(steps)
    found = progress(rows, times(rows), "3", T0, now=T0 + len(steps) + 0.5, stays_for_s=5)
    assert found.outcome == "promoted" and found.at == T0 + 6
    assert found.largest_share == 1.0
    early = progress(rows, times(rows), "3", T0, now=T0 + 9.5, stays_for_s=5)
    assert early.outcome == "unsettled"  # 100% for 3 s only


def test_a_paused_rollout_is_neither() -> None:
    rows = answers([(1, 39), (0, 40), (0, 40)] * 20)
    found = progress(rows, times(rows), "3", T0, now=T0 + 60.5, stays_for_s=5)
    assert found.outcome == "unsettled" and found.at is None
    assert found.share_now is not None and 0 < found.share_now < 0.02


def test_the_largest_share_is_over_three_seconds_not_one() -> None:
    rows = answers([(1, 39), (0, 40), (0, 40), (10, 30), (10, 30), (10, 30)])
    share, at = largest_share(rows, "3", T0, T0 + 6)
    assert (share, at) == (0.25, T0 + 3)
    assert largest_share([], "3", T0, T0 + 6) == (None, None)
