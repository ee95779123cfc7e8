"""Scenario features: the seeded wheel of misfortune and default targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchaos.errors import ValidationFailed
from mlchaos.loader import load_experiment, load_scenario
from tests.conftest import ROOT

CATALOGUE = sorted((ROOT / "experiments").glob("*.yaml"))


def scenario(tmp_path: Path, extra: str) -> Path:
    listed = "\n".join(f"  - {p}" for p in CATALOGUE)
    path = tmp_path / "s.yaml"
    path.write_text(f"version: 1\nname: wheel\nexperiments:\n{listed}\n{extra}")
    return path


def test_a_seeded_draw_is_reproducible_and_keeps_the_listed_order(tmp_path: Path) -> None:
    path = scenario(tmp_path, "draw: {count: 3, seed: 7}\n")
    first, drawn = load_scenario(path)
    again = [e.name for e in load_scenario(path)[1]]
    assert len(drawn) == 3 and [e.name for e in drawn] == again
    order = [load_experiment(p).name for p in CATALOGUE]
    positions = [order.index(e.name) for e in drawn]
    assert positions == sorted(positions)
    assert first.draw is not None and first.draw.seed == 7
    other = [e.name for e in load_scenario(scenario(tmp_path, "draw: {count: 3, seed: 8}\n"))[1]]
    assert other != again  # a different seed draws differently (for these two seeds)


def test_a_draw_without_seed_records_the_seed_it_chose(tmp_path: Path) -> None:
    drawn, experiments = load_scenario(scenario(tmp_path, "draw: {count: 2}\n"))
    assert drawn.draw is not None and drawn.draw.seed is not None
    replay = scenario(tmp_path, f"draw: {{count: 2, seed: {drawn.draw.seed}}}\n")
    assert [e.name for e in load_scenario(replay)[1]] == [e.name for e in experiments]


def test_drawing_more_than_listed_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, "draw:\n  count: 99\n")
    with pytest.raises(ValidationFailed) as failed:
        load_scenario(path)
    assert (
        str(failed.value) == f"{path}:{len(CATALOGUE) + 5}: draw.count: 99 is more than the "
        f"{len(CATALOGUE)} experiments listed"
    )


def test_defaults_fill_only_the_targets_an_experiment_leaves_out(tmp_path: Path) -> None:
    path = scenario(
        tmp_path, "defaults:\n  recovery: {within: 99s}\n  acknowledgement: {within: 3m}\n"
    )
    _, experiments = load_scenario(path)
    by_name = {e.name: e for e in experiments}
    drift = by_name["data-drift-income"].expect  # says why it has no recovery target
    assert drift.recovery is None and drift.no_recovery
    segment = by_name["segment-regression"].expect  # sets its own
    assert segment.recovery is not None and segment.recovery.within == 30.0
    bad = by_name["bad-version-inverted"].expect  # sets both itself
    assert bad.recovery is not None and bad.recovery.within == 30.0
    assert bad.acknowledgement is not None and bad.acknowledgement.within == 30.0
    canary = by_name["canary-bad-version"].expect  # judged on its rollout: nothing filled in
    assert canary == load_experiment(ROOT / "experiments" / "canary-bad-version.yaml").expect
    assert canary.acknowledgement is None and canary.paging is None
