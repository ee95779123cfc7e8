"""Bad experiments, kept as YAML fixtures, each fail with exactly the messages it declares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlchaos.errors import InputError, ValidationFailed
from mlchaos.loader import load_experiment, load_scenario, parse_document
from mlchaos.schema import Experiment
from tests.conftest import FIXTURES, ROOT

BAD = sorted((FIXTURES / "bad").glob("*.yaml"))


def expected_messages(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


def test_there_are_named_bad_fixtures() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_experiment_reports_exact_messages(path: Path) -> None:
    relative = path.relative_to(ROOT)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with pytest.raises(ValidationFailed) as failed:
            load_experiment(relative)
    finally:
        os.chdir(cwd)
    assert [str(p) for p in failed.value.problems] == expected_messages(path)


def test_good_experiment_loads_with_parsed_units() -> None:
    experiment = load_experiment(FIXTURES / "experiments" / "good.yaml")
    assert experiment.expect.detection.within == 5.0
    assert experiment.fault.ttl == 300.0
    assert experiment.deadline_s == 30.0  # the last target: no event counts after it
    assert experiment.waits_s() == {
        "detected": 5.0, "fired": 5.0, "paged": 5.0, "escalated": 30.0, "acknowledged": 30.0,
        "mitigated": 30.0, "recovered": 30.0, "aborted": 30.0, "promoted": 30.0,
    }  # fmt: skip


def test_catalogue_and_nightly_scenario_are_valid() -> None:
    scenario, experiments = load_scenario(ROOT / "scenarios" / "nightly.yaml")
    assert scenario.name == "nightly"
    assert [e.fault.type for e in experiments] == [
        "bad_version",
        "schema_change",
        "data_drift",
        "latency_spike",
        "error_burst",
        "missing_features",
        "concept_drift",
        "segment_regression",
        "good_version",
        "bad_version",
    ]
    assert [e.name for e in experiments][-2:] == ["canary-control", "canary-bad-version"]


def test_scenario_reports_problems_in_the_experiments_it_names(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("version: 1\nname: broken\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("version: 1\nname: s\nexperiments: [broken.yaml, missing.yaml]\n")
    with pytest.raises(ValidationFailed) as failed:
        load_scenario(scenario)
    messages = [str(p) for p in failed.value.problems]
    assert f"{scenario}:3: experiments.1: no such file: {tmp_path / 'missing.yaml'}" in messages
    assert any(m.startswith(f"{tmp_path / 'broken.yaml'}:1: fault: required") for m in messages)


def test_parse_document_names_its_source() -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_document("version: 2\n", Experiment, source="inline")
    assert str(failed.value.problems[0]).startswith("inline:1: version: Input should be 1")


def test_the_engine_refuses_a_misfit_it_is_handed_before_anything_runs(tmp_path: Path) -> None:
    """`run_gameday` and `Gameday.run` take experiments as objects, from any caller: a
    misfit is still bad input, raised before any preflight, load or fault."""
    from mlchaos.engine.gameday import run_gameday
    from mlchaos.loader import load_service
    from mlchaos.schema import Scenario

    service = load_service(FIXTURES / "misfit" / "service.yaml")  # nothing listens on its ports
    experiment = load_experiment(FIXTURES / "misfit" / "bad-segment.yaml")  # no service: loads
    scenario = Scenario(name="s", experiments=("bad-segment.yaml",))
    with pytest.raises(InputError, match=r"^bad-segment: fault\.segment: the service file's "):
        run_gameday(scenario, [experiment], service, tmp_path)
    assert list(tmp_path.iterdir()) == []
