"""Reports render from a results document: the table, junit.xml, the postmortem, the HTML page
and the aggregate over many runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mlchaos.engine.floor import Floor, refuse_below
from mlchaos.errors import InputError
from mlchaos.report.aggregate import aggregate, aggregate_table, percentile, render_aggregate
from mlchaos.report.render import ReportOptions, render_run
from mlchaos.report.table import summary_table
from mlchaos.schema.results import ResultsDocument
from tests.unit.test_verdict import (
    CANARY,
    EXPERIMENT,
    FLOOR,
    at,
    canary_run,
    event,
    judge,
    passing,
    watched,
)

SECTIONS = (
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
)


def document(detected: float = 2.0, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    result = judge(EXPERIMENT, passing(detected=detected) + (steps or []), FLOOR)
    return {
        "scenario": "nightly",
        "verdict": result.verdict,
        "started_at": at(-60),
        "finished_at": at(60),
        "responders": "automated",
        "load": None,
        "experiments": [result.as_dict()],
    }


def step(ok: bool) -> dict[str, Any]:
    return {
        "type": "runbook_step",
        "runbook": "bad-version",
        "step": "Roll back",
        "command": "false",
        "at": at(3),
        "duration_s": 0.01,
        "ok": ok,
        "error": "" if ok else "exit 1: no such alias",
    }


def typed(doc: dict[str, Any]) -> ResultsDocument:
    """The test's document as every renderer takes it: validated by the results contract."""
    return ResultsDocument.model_validate(doc)


def rendered(tmp_path: Path, doc: dict[str, Any], **options: Any) -> dict[str, str]:
    render_run(typed(doc), tmp_path, tmp_path, ReportOptions(**options))
    return {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()}


def test_table_shows_verdict_values_targets_and_floor() -> None:
    table = summary_table(typed(document(detected=7.0)))
    row = table.splitlines()[2]
    assert row.split()[:2] == ["good", "FAIL"]
    assert "7.0s ✗ ≤5s" in row and "9.0s ✓ ≤30s" in row and row.endswith("2s")
    assert table.splitlines()[-1] == "game day nightly: FAIL"


def test_postmortem_has_the_sre_sections_timeline_and_action_items(tmp_path: Path) -> None:
    text = rendered(tmp_path, document(detected=7.0))["postmortem.md"]
    for section in SECTIONS:
        assert f"### {section}" in text
    assert "- [ ] detection (MTTD) 7.0s against a 5s target: tighten detection of " in text
    picture = text.split("```")[1]
    assert "detected     " in picture and "+7.0s" in picture and "┆" in picture


def test_pagerduty_style_postmortem(tmp_path: Path) -> None:
    text = rendered(tmp_path, document(), postmortem="pagerduty")["postmortem.md"]
    for section in ("Overview", "What happened", "Resolution", "Impact", "Responders"):
        assert f"### {section}" in text
    assert "### Summary and impact" not in text


def test_any_template_can_be_overridden_by_file_name(tmp_path: Path) -> None:
    custom = tmp_path / "mine"
    custom.mkdir()
    (custom / "postmortem-sre.md.j2").write_text("custom {{ run.scenario }}\n")
    out = tmp_path / "out"
    out.mkdir()
    files = rendered(out, document(), template_dir=custom)
    assert files["postmortem.md"] == "custom nightly\n"
    assert "<svg" in files["report.html"]  # the others still come from the built-in set


def test_a_broken_user_template_is_bad_input_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "postmortem-sre.md.j2").write_text("ok\n{% for x in %}\n")
    with pytest.raises(InputError, match=r"postmortem-sre\.md\.j2:2: template: "):
        render_run(typed(document()), tmp_path, tmp_path, ReportOptions(template_dir=tmp_path))
    with pytest.raises(InputError, match=r"postmortem-nope\.md\.j2: template: not found"):
        render_run(typed(document()), tmp_path, tmp_path, ReportOptions(postmortem="nope"))


def test_junit_failure_lists_each_missed_target_with_its_value(tmp_path: Path) -> None:
    suite = ET.fromstring(rendered(tmp_path, document(detected=7.0))["junit.xml"])
    assert suite.get("tests") == "1" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == "detection (MTTD): 7.0s, over the 5s target"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["mttd"] == "7" and props["floor_s"] == "2"


def test_junit_reports_inconclusive_as_an_error_not_a_pass(tmp_path: Path) -> None:
    doc = document()
    doc["experiments"][0] |= {"verdict": "inconclusive", "reasons": ["no traffic"]}
    suite = ET.fromstring(rendered(tmp_path, doc)["junit.xml"])
    assert suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "inconclusive"


def test_a_failed_runbook_step_is_a_defect_and_an_action_item(tmp_path: Path) -> None:
    doc = document(steps=[step(ok=False)])
    exp = doc["experiments"][0]
    assert exp["verdict"] == "fail"
    assert exp["reasons"] == [
        "runbook defect: bad-version step 'Roll back' failed (exit 1: no such alias)"
    ]
    files = rendered(tmp_path, doc)
    assert "- [ ] fix runbook bad-version: step 'Roll back' failed" in files["postmortem.md"]
    assert "runbook step 'Roll back' FAILED" in files["postmortem.md"]
    assert 'class="step"' in files["report.html"]


def test_html_is_self_contained_with_a_timeline_and_sli_charts(tmp_path: Path) -> None:
    series = {
        "start_s": -15.0,
        "end_s": 20.0,
        "slis": [
            {
                "name": "errors",
                "query": "q",
                "condition": "< 0.01",
                "threshold": 0.01,
                "points": [[t, 0.5 if 0 <= t < 9 else 0.0] for t in range(-15, 20)],
            }
        ],
    }
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "good.json").write_text(json.dumps(series))
    files = rendered(tmp_path, document(detected=7.0))
    page = files["report.html"]
    assert 'data-event="detected" data-status="missed"' in page
    assert 'data-event="recovered" data-status="met"' in page
    assert 'data-sli="errors"' in page and "<polyline" in page
    assert "src=" not in page and "<script" not in page and "<link" not in page
    assert "errors was out of bounds (< 0.01) for 9 s, at worst 0.5" in files["postmortem.md"]


def test_missing_series_says_so_instead_of_drawing_nothing(tmp_path: Path) -> None:
    page = rendered(tmp_path, document())["report.html"]
    assert "no SLI series were recorded for this experiment" in page


def test_aggregate_pass_rate_percentiles_and_share_within_target(tmp_path: Path) -> None:
    runs = [document(detected=d) for d in (1.0, 2.0, 3.0, 7.0)]
    for i, run in enumerate(runs):
        run["started_at"] = at(i * 86400)
    summary = aggregate([typed(r) for r in reversed(runs)])
    history = summary["experiments"][0]
    assert history.verdicts == ["pass", "pass", "pass", "fail"]  # oldest first
    assert history.pass_rate == 0.75
    stats = history.stats("mttd")
    assert stats["p50"] == pytest.approx(2.5) and stats["within"] == 0.75
    assert stats["p90"] == pytest.approx(5.8)
    assert "good        4     75%" in aggregate_table(summary)
    md, html = (p.read_text() for p in render_aggregate(summary, tmp_path))
    assert "4 runs" in md and html.count('class="trend"') == 4


def test_percentile_of_nothing_is_unknown() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0


def test_target_below_floor_is_refused_with_the_arithmetic() -> None:
    """Each target against the floor of what it measures: detection is the alert going
    pending (scrape + evaluation), paging comes after ``for`` and ``group_wait`` too."""
    floor = Floor(1, 1, 2, 1)
    assert floor.floors() == {"mttd": 2.0, "time_to_fire": 4.0, "time_to_page": 5.0}
    with pytest.raises(
        InputError, match=r"detection.within 1.5s is below the physical floor 2s = scrape 1s \+ "
        r"evaluation 1s; raise"
    ):  # fmt: skip
        refuse_below(floor, "exp", 1.5)
    with pytest.raises(
        InputError, match=r"paging.within 4s is below the physical floor 5s = scrape 1s \+ "
        r"evaluation 1s \+ for 2s \+ group_wait 1s"
    ):  # fmt: skip
        refuse_below(floor, "exp", 2.0, paging_s=4.0)
    refuse_below(floor, "exp", 2.0, paging_s=5.0)


def test_false_alarms_show_in_every_report(tmp_path: Path) -> None:
    doc = document()
    doc["false_alarms"] = ["page P1 at t (ModelSlowRequests) with no fault injected"]
    files = rendered(tmp_path, doc)
    assert "## False alarms" in files["postmortem.md"]
    assert 'id="false-alarms"' in files["report.html"]
    assert "FALSE ALARM: page P1 at t" in summary_table(typed(doc))


# Issue 17: no simulated duration appears with a tick or a cross, in any report.
def simulated_document() -> dict[str, Any]:
    from tests.unit.test_verdict import FULL, team_run
    from tests.unit.test_verdict import judge as judged

    result = judged(FULL, team_run(), FLOOR)
    assert result.verdict == "pass" and "mtta" in result.simulated
    return {
        "scenario": "nightly", "verdict": result.verdict, "started_at": at(-60),
        "finished_at": at(60), "responders": "automated", "load": None,
        "experiments": [result.as_dict()],
    }  # fmt: skip


def test_a_simulated_duration_is_shown_as_simulated_never_ticked(tmp_path: Path) -> None:
    doc = simulated_document()
    row = summary_table(typed(doc)).splitlines()[2]
    assert "2.1s simulated" in row and "2.1s ✓" not in row and "2.1s ✗" not in row
    files = rendered(tmp_path, doc)
    postmortem = files["postmortem.md"]
    said = "Acknowledged 2.1s after the page by mlchaos-responder (*simulated*, not judged"
    assert said in postmortem
    assert "| acknowledgement (MTTA) | 2.1s (simulated, not judged) | 30.0s |" in postmortem
    assert "acknowledgement (MTTA) took" not in postmortem  # not among what went well
    assert "by rollback-controller" in postmortem
    assert "| rollback-controller (team) |" in postmortem  # who caused each event
    html = files["report.html"]
    assert '<td class="simulated"' in html and "2.1s simulated" in html
    assert '<tr class="simulated" data-event="acknowledged" data-party="mlchaos">' in html
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert properties["mtta.simulated"].startswith("2.1s, by mlchaos-responder")
    assert properties["mitigated.by"] == "rollback-controller (team)"


def test_reports_say_how_staging_was_left_and_why_the_quiet_start_was_not_checked(
    tmp_path: Path,
) -> None:
    doc = {
        **simulated_document(),
        "verdict": "inconclusive",
        "left_as_found": {"expected": "v2", "served": ["fallback-v1"], "restored": True},
        "false_alarm_check": {
            "status": "not serving",
            "reason": "the service was not serving",
            "sources": ["gateway answers"],
        },
    }
    table = summary_table(typed(doc))
    assert "BEFORE THE FIRST FAULT (not serving): the service was not serving" in table
    assert "left as found: fallback-v1 served after the last experiment; mlchaos restored v2" in (
        table
    )
    files = rendered(tmp_path, doc)
    assert "## Staging as the game day left it" in files["postmortem.md"]
    assert "## Before the first fault: not serving" in files["postmortem.md"]
    assert 'id="left"' in files["report.html"] and 'id="quiet-start"' in files["report.html"]
    broken = {**doc, "left_as_found": {"expected": "2", "served": ["1"], "restored": False,
                                       "problem": "MLflow did not answer"}}  # fmt: skip
    assert "STAGING NOT LEFT AS FOUND: MLflow did not answer" in summary_table(typed(broken))
    assert "Not as found: MLflow did not answer." in rendered(tmp_path, broken)["postmortem.md"]


def canary_document(started: float, outcome: str) -> dict[str, Any]:
    """A night's run of the bad canary: aborted by the team's rollout, or promoted."""
    if outcome == "aborted":
        records = canary_run(event("aborted", 12, actor="the team's rollout"),
                             watched("aborted", 0.01))  # fmt: skip
    else:
        missed = {"type": "missed", "event": "aborted", "status": "timeout", "reason": "promoted"}
        records = canary_run(event("promoted", 40, actor="the team's rollout"), missed,
                             watched("promoted", 1.0, at_end=1.0))  # fmt: skip
    result = judge(CANARY, records, FLOOR)
    doc = document()
    doc["started_at"] = at(started)
    doc["experiments"].append(result.as_dict())
    return doc


def test_the_aggregate_shows_rollback_rate_and_canary_pass_rate_by_week(tmp_path: Path) -> None:
    week = 7 * 86400
    runs = [canary_document(0, "aborted"), canary_document(1, "promoted"),
            canary_document(week, "aborted")]  # fmt: skip
    summary = aggregate([typed(r) for r in runs])
    everything = summary["weeks"][-1]
    # three canaries and three bad versions nobody rolled back in these runs (no mitigation)
    assert everything["week"] == "all" and everything["releases"] == 6
    assert everything["rollback_rate"] == pytest.approx(2 / 6)  # the promoted one stayed in
    assert everything["canary_pass_rate"] == pytest.approx(2 / 3)
    assert everything["mttr_p50"] == 9.0 and everything["within_target"] == pytest.approx(5 / 6)
    first, second = summary["weeks"][:2]
    assert (first["runs"], first["canary_pass_rate"]) == (2, 0.5)
    assert (second["runs"], second["canary_pass_rate"]) == (1, 1.0)
    md, html = (p.read_text() for p in render_aggregate(summary, tmp_path))
    assert "| all | 3 | 6 | 33% of 6 | 67% of 3 | 9.0s / 9.0s | 83% |" in md
    assert 'id="practice"' in html and "67% of 3" in html


def test_a_canarys_reports_show_its_rollout_and_what_it_cost(tmp_path: Path) -> None:
    doc = canary_document(0, "aborted")
    canary = doc["experiments"][-1]
    canary["budget"] = [{
        "slo": "declines", "objective": 0.95, "time_scale": 0.01, "period_s": 25920.0,
        "window_s": 40.0, "error_ratio": 0.02, "burn_rate": 0.4, "consumed": 0.0006,
        "peak_burn": 0.9, "peak_window_s": 3.0,
        "tiers": [{"tier": "page", "factor": 3.0, "severity": "warning", "alert": "DeclinesPage",
                   "should_fire": False, "fired": True}],
    }]  # fmt: skip
    canary["served"] = {"p95_s": 0.12, "p99_s": 0.3, "validation_failure_share": 0.0,
                        "source": "Prometheus"}  # fmt: skip
    canary["fairness"] = {"segments": 2, "before": 0.012, "peak": 0.431, "end": 0.02,
                          "source": "Prometheus: the service file's segments.score"}  # fmt: skip
    pages = rendered(tmp_path, doc)
    postmortem, html = pages["postmortem.md"], pages["report.html"]
    assert ("The gap between segments (the largest minus the smallest of 2 segments' figure, "
            "reported, not judged) was 0.012 at injection, 0.431 at its peak and 0.020 at the "
            "revert") in postmortem  # fmt: skip
    assert '<span class="peak">0.431</span>' in html
    assert "### Canary" in postmortem
    assert "| outcome | **aborted** (expected: aborted) |" in postmortem
    assert "| largest share it reached | 1.0% of the answers over 3 s" in postmortem
    assert "page (3.0×): fired **but should not have**" in postmortem
    assert "clients saw a p95 latency of 120 ms and a p99 of 300 ms; 0.0% of" in postmortem
    assert 'class="canary" data-outcome="aborted"' in html and 'data-slo="declines"' in html
    assert "(should not have)" in html


def test_the_summary_table_shows_what_each_canarys_rollout_did() -> None:
    aborted = summary_table(typed(canary_document(0, "aborted"))).splitlines()
    assert aborted[0].rstrip().endswith("canary (from the answers)")
    assert aborted[2].rstrip().endswith("  -")  # the bad version's experiment: no rollout
    assert aborted[3].rstrip().endswith("aborted 12.0s ✓ ≤40s, peak share 1.0%"), aborted[3]
    promoted = summary_table(typed(canary_document(0, "promoted"))).splitlines()
    assert promoted[3].rstrip().endswith("promoted, not aborted ✗, peak share 100.0%"), promoted[3]
    assert "canary" not in summary_table(typed(document())).splitlines()[0]  # none: no column


def test_a_dependency_fault_is_worded_as_the_dependency_and_shows_what_held(
    tmp_path: Path,
) -> None:
    doc = document()
    exp = doc["experiments"][0]
    exp["fault"] = "dependency"
    exp["fault_detail"] = {"dependency": "feature-store", "mode": "stale",
                           "feature_view": "customer_activity", "keys": 500}  # fmt: skip
    exp["slis_while_in"] = [
        {"name": "features-not-found", "condition": "below", "threshold": 0.05, "worst": 1.0,
         "held": False},
        {"name": "edge-p99-seconds", "condition": "below", "threshold": 0.5, "worst": 0.0495,
         "held": True},
    ]  # fmt: skip
    pages = rendered(tmp_path, doc)
    postmortem, html = pages["postmortem.md"], pages["report.html"]
    assert ("was injected into the service's dependency `feature-store` (stale: feature view "
            "`customer_activity`), not the model (requests reached the model server "
            "untouched)") in postmortem
    assert ("While it was in: `features-not-found` reached 1 (broke its SLO, below 0.05); "
            "`edge-p99-seconds` reached 0.0495 (held its SLO, below 0.5).") in postmortem
    assert 'data-sli="edge-p99-seconds" data-held="True"' in html
