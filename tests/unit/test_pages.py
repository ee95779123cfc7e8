"""Every page of an experiment's window, its own and the collateral (issue 8, 12 and 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlchaos.engine.pages import pages_in_window, split_steps
from tests.unit.test_reports import EXPERIMENT, FLOOR, document, passing, rendered
from tests.unit.test_verdict import judge

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def incident(
    id_: str, alert: str | None, after_s: float, acked_s: float | None = None
) -> dict[str, Any]:
    at = T0 + timedelta(seconds=after_s)
    return {
        "id": id_,
        "summary": f"{alert} fired",
        "custom_details": {"alertname": alert} if alert else {},
        "triggered_at": at.isoformat(),
        "acknowledged_at": (T0 + timedelta(seconds=acked_s)).isoformat() if acked_s else None,
        "resolved_at": None,
    }


def test_pages_in_the_window_are_kept_with_their_role_and_acknowledgement() -> None:
    incidents = [
        incident("P3", "ModelAccuracyDrop", 11.5),  # after the revert, never acknowledged
        incident("P1", "ModelHighErrorRate", 4.0, acked_s=6.0),
        incident("P2", "ModelSegmentGap", 4.2, acked_s=6.1),
        incident("P0", "ModelHighErrorRate", -3.0),  # before injection: not this experiment's
        incident("P9", "ModelHighErrorRate", 40.0),  # after the window: the next one's
    ]
    pages = pages_in_window(incidents, "ModelHighErrorRate", T0, T0 + timedelta(seconds=30))
    assert [(p["id"], p["role"], p["acknowledged"]) for p in pages] == [
        ("P1", "experiment", True),
        ("P2", "collateral", True),
        ("P3", "collateral", False),
    ]
    assert pages[2]["alert"] == "ModelAccuracyDrop"


def test_a_page_naming_no_alert_is_taken_as_the_experiments() -> None:
    [page] = pages_in_window([incident("P1", None, 1)], "X", T0, T0 + timedelta(seconds=5))
    assert page["role"] == "experiment"


def test_runbook_steps_of_collateral_pages_are_kept_apart_and_never_judged() -> None:
    own = {"type": "runbook_step", "runbook": "high-error-rate", "step": "Look",
           "command": "true", "at": T0.isoformat(), "duration_s": 0.01, "ok": True, "error": "",
           "alert": "ModelHighErrorRate"}  # fmt: skip
    stray = {**own, "runbook": "latency", "step": "Route to fallback", "ok": False,
             "error": "exit 22", "alert": "EdgeSlowRequests"}  # fmt: skip
    result = judge(EXPERIMENT, [*passing(), own, stray], FLOOR)
    assert result.verdict == "pass", result.reasons
    assert [s["runbook"] for s in result.runbook_steps] == ["high-error-rate"]
    assert [s["runbook"] for s in result.collateral_steps] == ["latency"]
    assert split_steps([own, stray], "EdgeSlowRequests") == ([stray], [own])


def test_pages_and_collateral_steps_show_in_the_postmortem_and_html(tmp_path: Path) -> None:
    doc = document()
    exp = doc["experiments"][0]
    exp["pages"] = pages_in_window(
        [incident("P1", "ModelHighErrorRate", 2.5, acked_s=4.0),
         incident("P3", "ModelAccuracyDrop", 11.5)],
        "ModelHighErrorRate", datetime.fromisoformat(exp["timeline"]["injected"]),
        datetime.fromisoformat(exp["timeline"]["injected"]) + timedelta(seconds=60),
    )  # fmt: skip
    exp["collateral_steps"] = [
        {"runbook": "accuracy", "step": "Page the owner", "command": "false",
         "at": exp["timeline"]["injected"], "duration_s": 0.01, "ok": False, "error": "exit 1",
         "alert": "ModelAccuracyDrop"}
    ]  # fmt: skip
    files = rendered(tmp_path, doc)
    postmortem = files["postmortem.md"]
    assert "### Pages" in postmortem
    assert "| P3 | `ModelAccuracyDrop` | collateral |" in postmortem
    assert "| never |" in postmortem
    assert "fix runbook accuracy: step 'Page the owner' failed (exit 1)" in postmortem
    assert "<td>ModelAccuracyDrop</td><td>collateral</td>" in files["report.html"]
