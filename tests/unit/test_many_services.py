"""A game day over several services: the plan (which experiment runs on which service), the
refusal of parallel game days that share a target, and the combined report grouped by service."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mlchaos.errors import ValidationFailed
from mlchaos.loader import load_plan, load_service
from mlchaos.report.aggregate import aggregate, aggregate_table
from mlchaos.report.render import ReportOptions, render_run
from mlchaos.report.services import combine, exit_code
from mlchaos.report.table import summary_table
from mlchaos.schema.results import ResultsDocument, ServiceRun
from mlchaos.vocabulary import Exit, Verdict
from tests.conftest import ROOT
from tests.unit.test_reports import document

MISFIT = ROOT / "tests" / "fixtures" / "misfit"


def staging(tmp_path: Path, name: str, gateway: int, **more: str) -> Path:
    """A copy of the fixture's service file under another name, gateway and whatever else."""
    text = (MISFIT / "service.yaml").read_text()
    text = text.replace("name: scorer", f"name: {name}")
    text = text.replace("  segment: {young: v3-segment-young}\n",
                        "  segment: {young: v3-segment-young}\n  fallback: fallback\n")  # fmt: skip
    text = text.replace("gateway: http://127.0.0.1:1", f"gateway: http://127.0.0.1:{gateway}")
    for old, new in more.items():
        text = text.replace(old, new)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "service.yaml").write_text(text)
    (folder / "traffic.jsonl").write_text("")
    return folder / "service.yaml"


def scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    exp = ROOT / "experiments"
    path.write_text(f"version: 1\nname: fleet\nexperiments:\n{body}".replace("EXP", str(exp)))
    return path


def test_each_entry_runs_on_its_own_service_and_a_plain_one_on_the_game_days(
    tmp_path: Path,
) -> None:
    fraud = staging(tmp_path, "fraud", 11, **{"registry: http://127.0.0.1:4": ""})
    path = scenario(tmp_path, f"""\
  - EXP/latency-spike.yaml
  - {{file: EXP/error-burst.yaml, service: {fraud}}}
""")  # fmt: skip
    loaded, planned = load_plan(path)
    assert loaded.many_services and not loaded.parallel
    assert [(p.experiment.name, p.service_file) for p in planned] == [
        ("latency-spike", None),
        ("error-burst", fraud.resolve()),
    ]
    assert planned[1].file == ROOT / "experiments" / "error-burst.yaml"


def test_an_entrys_missing_service_file_is_refused_at_its_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, """\
  - EXP/latency-spike.yaml
  - {file: EXP/error-burst.yaml, service: nowhere/service.yaml}
""")
    with pytest.raises(ValidationFailed) as failed:
        load_plan(path)
    [problem] = failed.value.problems
    assert str(problem).startswith(f"{path}:5: experiments.1.service: no such file: ")


def test_parallel_game_days_that_share_a_target_are_refused_naming_it(tmp_path: Path) -> None:
    """Two stagings on one Redis and one pager service: at the same time, one's outage would
    be the other's failure, and one's pages the other's."""
    first = staging(tmp_path, "first", 11)
    second = staging(tmp_path, "second", 12)
    path = scenario(tmp_path, f"""\
  - {{file: EXP/latency-spike.yaml, service: {first}}}
  - {{file: EXP/error-burst.yaml, service: {second}}}
parallel: true
""")  # fmt: skip
    with pytest.raises(ValidationFailed) as failed:
        load_plan(path)
    [problem] = failed.value.problems
    text = str(problem)
    assert text.startswith(f"{path}:6: parallel: ")
    assert "model scorer in the registry at 127.0.0.1:4" in text
    assert "pager service oncall at 127.0.0.1:5" in text
    assert "the dependency at 127.0.0.1:6, the dependency at 127.0.0.1:7" in text
    assert "processes matching" in text
    assert "the gateway at" not in text  # their gateways differ
    assert text.endswith("run them one after another (parallel: false)")
    # one after another, the same two are fine
    sequential = path.read_text().replace("parallel: true", "parallel: false")
    path.write_text(sequential)
    assert len(load_plan(path)[1]) == 2


def test_parallel_game_days_on_separate_stagings_are_accepted(tmp_path: Path) -> None:
    separate = {"127.0.0.1:4": "127.0.0.1:14", "127.0.0.1:5": "127.0.0.1:15",
                "127.0.0.1:6/0": "127.0.0.1:16/0", "127.0.0.1:7": "127.0.0.1:17",
                "models$": "other-models$"}  # fmt: skip
    first = staging(tmp_path, "first", 11)
    second = staging(tmp_path, "second", 12, **separate)
    assert not load_service(first).targets() & load_service(second).targets()
    path = scenario(tmp_path, f"""\
  - {{file: EXP/latency-spike.yaml, service: {first}}}
  - {{file: EXP/error-burst.yaml, service: {second}}}
parallel: true
""")  # fmt: skip
    assert load_plan(path)[0].parallel


def runs(tmp_path: Path) -> list[tuple[ServiceRun, ResultsDocument | None]]:
    passed = ResultsDocument.model_validate({**document(), "service": "credit"})
    failed = ResultsDocument.model_validate(
        {**document(detected=7.0), "service": "fraud", "false_alarms": ["P1 before any fault"]}
    )
    failed.experiments[0].name = "fraud-good"
    return [
        (ServiceRun(name="credit", verdict=passed.verdict, exit_code=0, run_dir="credit/a"),
         passed),
        (ServiceRun(name="fraud", file="/x/service.yaml", verdict=failed.verdict, exit_code=1,
                    run_dir="fraud/b"), failed),
        (ServiceRun(name="search", verdict=Verdict.INCONCLUSIVE, exit_code=3,
                    problems=["locust: 2 workers expected at 127.0.0.1:5557, not all connected"]),
         None),
    ]  # fmt: skip


def test_the_combined_document_groups_by_service_and_takes_the_worst(tmp_path: Path) -> None:
    combined = combine("fleet", runs(tmp_path), parallel=True, started_at=document()["started_at"])
    assert combined.verdict == Verdict.FAIL and exit_code(combined) == Exit.FAIL
    assert [(e.service, e.name) for e in combined.experiments] == [
        ("credit", "good"), ("fraud", "fraud-good")]  # fmt: skip
    assert [s.name for s in combined.services] == ["credit", "fraud", "search"]
    assert combined.false_alarms == ["fraud: P1 before any fault"]
    assert combined.baseline.problems == [
        "search: locust: 2 workers expected at 127.0.0.1:5557, not all connected"]  # fmt: skip
    again = ResultsDocument.model_validate_json(combined.to_json())  # the published contract
    assert again.services[2].exit_code == 3
    table = summary_table(combined)
    assert table.splitlines()[2].startswith("credit/good") and "fraud/fraud-good" in table
    assert "  search: INCONCLUSIVE" in table and "reports in fraud/b/" in table


def test_an_interrupted_service_makes_the_whole_game_day_interrupted(tmp_path: Path) -> None:
    (first, doc), *rest = runs(tmp_path)
    first = first.model_copy(update={"interrupted": True, "exit_code": 130})
    combined = combine("fleet", [(first, doc), *rest], parallel=False, started_at="x")
    assert exit_code(combined) == Exit.INTERRUPTED


def test_report_html_and_junit_group_by_service(tmp_path: Path) -> None:
    combined = combine("fleet", runs(tmp_path), parallel=True, started_at=document()["started_at"])
    render_run(combined, tmp_path, tmp_path, ReportOptions())
    html = (tmp_path / "report.html").read_text()
    assert html.count('<tr class="service-group"') == 2
    assert '<tr data-service="fraud" data-verdict="fail">' in html
    assert '<a href="fraud/b/report.html">fraud/b/</a>' in html
    assert "none: locust: 2 workers expected" in html
    assert "(their game days ran at the same time)" in html
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert {c.get("classname") for c in suite.iter("testcase")} == {
        "mlchaos.fleet.credit", "mlchaos.fleet.fraud"}  # fmt: skip


def test_the_aggregate_keeps_two_services_experiments_of_one_name_apart(tmp_path: Path) -> None:
    credit = ResultsDocument.model_validate({**document(), "service": "credit"})
    fraud = ResultsDocument.model_validate({**document(detected=7.0), "service": "fraud"})
    summary = aggregate([credit, fraud])
    assert [h.name for h in summary["experiments"]] == ["credit/good", "fraud/good"]
    assert "credit/good" in aggregate_table(summary)
    alone = aggregate([credit, credit])  # one service: names as they were
    assert [h.name for h in alone["experiments"]] == ["good"]
