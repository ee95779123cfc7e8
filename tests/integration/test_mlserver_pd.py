"""A team's own MLServer with the ``pd`` content type and a text feature (`plan: basic`):
the payload mlchaos encodes from its dataset is scored, directly and through the gateway,
where the same request with the text sent as FP64 (what mlchaos used to send) is refused."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlchaos.load.payload import prepare
from mlchaos.protocols import Codec
from tests.integration.mlserver import mlserver_and_gateway

pytestmark = pytest.mark.integration
DATASET = "monthly_spend,plan,churned\n20,basic,1\n110,premium,0\n35,standard,1\n"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with mlserver_and_gateway(tmp_path_factory.mktemp("m"), "sklearn_pd_model.py", "churn") as s:
        yield s


def bodies(tmp_path: Path) -> list[Any]:
    data = tmp_path / "traffic.csv"
    data.write_text(DATASET)
    codec = Codec("oip-v2-columns", parameters={"content_type": "pd"})
    out = prepare(codec, tmp_path / "payload.jsonl", dataset=data, label="churned")
    return [json.loads(line)["body"] for line in out.read_text().splitlines()]


def infer(address: str, body: Any) -> requests.Response:
    return requests.post(f"http://{address}/v2/models/churn/infer", json=body, timeout=30)


def test_a_text_feature_is_scored_by_mlservers_pd_codec(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    sent = bodies(tmp_path)
    assert sent[0]["inputs"][1]["datatype"] == "BYTES"
    for address in servers:  # MLServer itself, then through the gateway
        for body in sent:
            answer = infer(address, body)
            assert answer.status_code == 200, answer.text
            [output] = answer.json()["outputs"]
            assert output["data"][0] in (0, 1), output
    as_numbers = copy.deepcopy(sent[0])
    as_numbers["inputs"][1]["datatype"] = "FP64"  # the old encoding: refused, so this can fail
    del as_numbers["inputs"][1]["parameters"]
    assert infer(servers[0], as_numbers).status_code >= 400


def test_data_drift_scales_a_feature_of_ready_bodies_with_no_sigma(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    """A service file that gives only `bodies:` (no dataset, no published reference): a
    `scale: 2.0` drift fits, is injected through the gateway, changes requests that MLServer
    still scores, and ends with its lease."""
    from mlchaos.faults import fault_type
    from mlchaos.faults.leases import revert_all
    from mlchaos.journal import Journal
    from mlchaos.loader import load_experiment, load_service

    (tmp_path / "bodies.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bodies(tmp_path)))
    (tmp_path / "service.yaml").write_text(SERVICE.format(gateway=servers[1]))
    (tmp_path / "drift.yaml").write_text(DRIFT)
    service = load_service(tmp_path / "service.yaml")
    experiment = load_experiment(tmp_path / "drift.yaml", service)  # it fits: no sigma needed
    journal = Journal(tmp_path / "journal.jsonl")
    drift = fault_type("data_drift")
    drift.inject(journal, service, experiment.fault)
    try:
        for body in bodies(tmp_path):
            assert infer(servers[1], body).status_code == 200
        assert drift.confirm(journal, service, experiment.fault)
    finally:
        revert_all(journal)
    said = journal.path.read_text()
    assert '"scale": 2.0' in said and "the gateway applied it to" in said


def test_a_drift_of_a_feature_the_bodies_never_carry_is_bad_input_at_its_line(
    tmp_path: Path,
) -> None:
    from mlchaos.errors import ValidationFailed
    from mlchaos.loader import load_experiment, load_service

    (tmp_path / "bodies.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bodies(tmp_path)))
    (tmp_path / "service.yaml").write_text(SERVICE.format(gateway="127.0.0.1:9"))
    (tmp_path / "drift.yaml").write_text(DRIFT.replace("monthly_spend", "tenure"))
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(tmp_path / "drift.yaml", load_service(tmp_path / "service.yaml"))
    assert str(failed.value.problems[0]).endswith(
        "drift.yaml:3: fault.feature: the load's payload never carries 'tenure', so nothing "
        "would drift (its requests carry: monthly_spend, plan)"
    )
    (tmp_path / "drift.yaml").write_text(DRIFT.replace("scale: 2.0", "shift: 1sigma"))
    problem = "a shift in sigmas needs 'monthly_spend''s spread"
    load_experiment(tmp_path / "drift.yaml", load_service(tmp_path / "service.yaml"))  # 3 numbers
    (tmp_path / "bodies.jsonl").write_text(json.dumps(bodies(tmp_path)[0]) + "\n")  # 1 number
    with pytest.raises(ValidationFailed, match=problem):
        load_experiment(tmp_path / "drift.yaml", load_service(tmp_path / "service.yaml"))


SERVICE = """\
version: 1
name: churn-staging
model: churn
endpoints:
  gateway: http://{gateway}
  prometheus: http://127.0.0.1:9
  alertmanager: http://127.0.0.1:9
traffic_query: sum(rate(mlchaos_gateway_requests_total[5s]))
payload: {{bodies: bodies.jsonl, protocol: oip-v2-columns}}
"""

DRIFT = """\
version: 1
name: spend-doubles
fault: {type: data_drift, feature: monthly_spend, scale: 2.0, share: 100%, ttl: 1m}
steady_state:
  - {name: errors, query: "vector(0)", below: 0.01}
expect:
  detection: {alert: ChurnFeatureDrift, within: 60s}
"""
