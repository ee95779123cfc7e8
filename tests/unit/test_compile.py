"""Compiled experiments are valid Chaos Toolkit documents with the four promised parts."""

from __future__ import annotations

from pathlib import Path

import pytest
from chaoslib.experiment import ensure_experiment_is_valid

from mlchaos.engine.compile import compile_experiment
from mlchaos.loader import load_experiment
from mlchaos.service import Service
from tests.conftest import ROOT

SERVICE = Service(
    model="credit-risk",
    model_url="http://127.0.0.1:1",
    gateway_url="http://127.0.0.1:1",
    registry_url="http://127.0.0.1:2",
    prometheus_url="http://127.0.0.1:3",
    alertmanager_url="http://127.0.0.1:4",
    pagerduty_url="https://127.0.0.1:5",
    pagerduty_service="model-oncall",
    traffic_query="sum(rate(mlchaos_gateway_requests_total[5s]))",
)


def test_catalogue_experiment_compiles_to_a_valid_chaostoolkit_experiment(tmp_path: Path) -> None:
    experiment = load_experiment(ROOT / "experiments" / "bad-version.yaml")
    document = compile_experiment(experiment, SERVICE, tmp_path / "j.jsonl")
    ensure_experiment_is_valid(document)  # binds every argument to the real signature

    probes = document["steady-state-hypothesis"]["probes"]
    assert [p["name"] for p in probes] == [
        "slo-edge-error-ratio",
        "slo-score-shift",
        "traffic-traffic",
        "serving",
    ]
    assert all(p["tolerance"] is True for p in probes)
    assert [a["name"] for a in document["method"]] == [
        "inject-bad_version",
        "confirm-fault-active",
        "wait-detected",
        "wait-fired",
        "wait-paged",
        "wait-acknowledged",
        "wait-mitigated",
        "wait-recovered",
    ]
    assert [r["provider"]["func"] for r in document["rollbacks"]] == ["revert_faults"]
    assert document["configuration"] == {"mlchaos_journal": str(tmp_path / "j.jsonl")}


def test_optional_expectations_compile_to_no_wait() -> None:
    experiment = load_experiment(ROOT / "tests" / "fixtures" / "experiments" / "good.yaml")
    document = compile_experiment(experiment, SERVICE, Path("j.jsonl"))
    names = [a["name"] for a in document["method"]]
    assert "wait-paged" not in names and "wait-mitigated" not in names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_catalogue_experiment_compiles(path: Path, tmp_path: Path) -> None:
    experiment = load_experiment(path)
    document = compile_experiment(experiment, SERVICE, tmp_path / "j.jsonl")
    ensure_experiment_is_valid(document)
    inject = document["method"][0]["provider"]["arguments"]["fault"]
    assert inject["type"] == experiment.fault.type
    assert ("wait-recovered" in [a["name"] for a in document["method"]]) == (
        experiment.expect.recovery is not None
    )
