"""Reports render from a results document: the table, the postmortem and its timeline picture."""

from __future__ import annotations

from pathlib import Path

from mlchaos.engine.floor import Floor, refuse_below
from mlchaos.engine.verdict import judge
from mlchaos.errors import InputError
from mlchaos.report.postmortem import render_postmortem
from mlchaos.report.table import summary_table
from tests.unit.test_verdict import EXPERIMENT, FLOOR, passing


def document(detected: float = 2.0) -> dict[str, object]:
    result = judge(EXPERIMENT, passing(detected=detected), FLOOR)
    return {
        "scenario": "nightly",
        "verdict": result.verdict,
        "started_at": "s",
        "finished_at": "f",
        "responders": "automated",
        "load": None,
        "experiments": [result.as_dict()],
    }


def test_table_shows_verdict_values_targets_and_floor() -> None:
    table = summary_table(document(detected=7.0))
    row = table.splitlines()[2]
    assert row.split()[:2] == ["good", "FAIL"]
    assert "7.0s ✗ ≤5s" in row and "9.0s ✓ ≤30s" in row and row.endswith("4s")
    assert table.splitlines()[-1] == "game day nightly: FAIL"


def test_postmortem_has_sections_timeline_and_action_items(tmp_path: Path) -> None:
    text = render_postmortem(document(detected=7.0), tmp_path).read_text()
    for section in (
        "Summary and impact",
        "Trigger and root cause",
        "Detection",
        "Response",
        "Recovery",
        "Timeline",
        "What went well",
        "What went wrong",
        "Where we got lucky",
        "Action items",
    ):
        assert f"### {section}" in text
    assert "- [ ] Fix: detection (MTTD): 7.0s, over the 5s target" in text
    picture = text.split("```")[1]
    assert "detected     " in picture and "+7.0s" in picture and "┆" in picture


def test_postmortem_template_can_be_overridden(tmp_path: Path) -> None:
    (tmp_path / "postmortem.md.j2").write_text("custom {{ run.scenario }}\n")
    out = tmp_path / "out"
    out.mkdir()
    assert (
        render_postmortem(document(), out, template_dir=tmp_path).read_text() == "custom nightly\n"
    )


def test_target_below_floor_is_refused_with_the_arithmetic() -> None:
    try:
        refuse_below(Floor(1, 1, 2, 1), "exp", 3.0)
    except InputError as exc:
        assert (
            "below the physical floor 5s = scrape 1s + evaluation 1s + for 2s + group_wait 1s"
            in str(exc)
        )
    else:
        raise AssertionError("a target below the floor was accepted")
    refuse_below(Floor(1, 1, 2, 1), "exp", 5.0)
