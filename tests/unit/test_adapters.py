"""The service file chooses the implementation behind each outside system's interface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlchaos.errors import InputError, TargetError, ValidationFailed
from mlchaos.load.runner import Locust
from mlchaos.loader import load_service
from mlchaos.observe import adapters
from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.mlflow import MlflowRegistry
from mlchaos.observe.pagerduty import Incidents
from mlchaos.observe.prometheus import Prometheus
from mlchaos.observe.registry import RegistryClient
from mlchaos.schema import Load
from mlchaos.schema.service import Payload
from tests.conftest import ROOT

SERVICE_FILE = ROOT / "tests" / "fixtures" / "misfit" / "service.yaml"


def test_each_kind_gets_the_implementation_the_service_file_names() -> None:
    service = load_service(SERVICE_FILE)
    assert service.adapters.model_dump() == {
        "metrics": "prometheus",
        "pager": "receiver",
        "registry": "mlchaos",
        "traffic": "gateway",
        "load": "locust",
    }
    assert isinstance(adapters.metrics(service), Prometheus)
    assert isinstance(adapters.pager(service), Incidents)
    assert isinstance(adapters.registry(service), RegistryClient)
    assert isinstance(adapters.traffic(service), GatewayClient)
    assert adapters.registry(service).url == "http://127.0.0.1:4"  # type: ignore[attr-defined]


def test_an_unknown_implementation_is_bad_input_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(SERVICE_FILE.read_text() + "adapters:\n  registry: neptune\n")
    with pytest.raises(ValidationFailed) as failed:
        load_service(path)
    [problem] = failed.value.problems
    line = len(SERVICE_FILE.read_text().splitlines()) + 2  # the line after `adapters:`
    assert (problem.line, problem.field) == (line, "adapters.registry")
    assert "'mlchaos'" in problem.message and "'mlflow'" in problem.message


def test_an_mlflow_registry_is_read_through_its_alias(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    text = SERVICE_FILE.read_text().replace("versions:\n", "versions:\n  alias: prod\n")
    text += "adapters:\n  registry: mlflow\n"
    path.write_text(text)
    registry = adapters.registry(load_service(path))
    assert isinstance(registry, MlflowRegistry) and registry.alias == "prod"
    assert registry.audit("fraud") == []  # MLflow keeps no audit log of alias moves
    no_url = text.replace("  registry: http://127.0.0.1:4\n", "")
    assert no_url != text
    path.write_text(no_url)
    with pytest.raises(ValidationFailed, match=r"adapters\.registry is mlflow: set endpoints"):
        load_service(path)


def test_a_service_without_a_registry_says_so() -> None:
    service = load_service(SERVICE_FILE).model_copy(update={"registry_url": None})
    with pytest.raises(TargetError, match=r"set endpoints\.registry"):
        adapters.registry(service)


def test_the_load_replays_the_service_files_payload(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("amount,tier,label\n12.5,gold,0\n80,silver,1\n")
    service = load_service(SERVICE_FILE).model_copy(
        update={
            "payload": Payload(file="rows.csv", protocol="kserve-v1"),
            "payload_file": tmp_path / "rows.csv",
        }
    )
    generator = adapters.load(service, Load(users=2, rate=4), tmp_path / "run")
    assert isinstance(generator, Locust)  # not started: starting it is the integration tests'
    assert generator.infer_path == "/v1/models/scorer:predict"
    sent = [json.loads(line) for line in generator.payload.read_text().splitlines()]
    assert sent == [
        {"body": {"instances": [[12.5, "gold"]]}, "label": 0.0},
        {"body": {"instances": [[80.0, "silver"]]}, "label": 1.0},
    ]
    no_payload = service.model_copy(update={"payload": None, "payload_file": None})
    with pytest.raises(InputError, match="names no payload"):
        adapters.load(no_payload, Load(users=2, rate=4), tmp_path)
