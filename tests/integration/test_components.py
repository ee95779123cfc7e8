"""Each component of the stack, over its real HTTP API on loopback."""

from __future__ import annotations

import pagerduty
import pytest
import requests

from mlchaos.observe.pagerduty import events_client
from mlchaos.reference.config import StackConfig
from mlchaos.reference.dataset import FEATURES
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
MODEL = "credit-risk"


def body(**override: list[object]) -> dict[str, object]:
    values = {
        "income": [52000.0],
        "debt_ratio": [0.3],
        "age": [40.0],
        "credit_lines": [4.0],
        "utilization": [0.5],
        "late_payments": [0.0],
        **override,
    }
    return {
        "id": "r1",
        "inputs": [
            {"name": f, "datatype": "FP64", "shape": [1], "data": values[f]}
            for f in FEATURES
            if f in values
        ],
    }


def served_version(stack: StackConfig) -> str:
    meta = requests.get(f"{stack.url('model-server')}/v2/models/{MODEL}", timeout=5).json()
    return str(meta["versions"][0])


def test_model_server_speaks_open_inference_protocol(stack: StackConfig) -> None:
    url = stack.url("model-server")
    assert requests.get(f"{url}/v2/health/ready", timeout=5).status_code == 200
    answer = requests.post(f"{url}/v2/models/{MODEL}/infer", json=body(), timeout=5).json()
    assert answer["model_name"] == MODEL and answer["id"] == "r1"
    probability = answer["outputs"][0]["data"][0]
    assert 0.0 < probability < 1.0
    assert answer["outputs"][1]["data"] == [int(probability >= 0.5)]


@pytest.mark.parametrize(
    ("override", "reason"),
    [({"income": ["lots"]}, "wrong_type"), ({"age": [float("nan")]}, "nan")],
)
def test_invalid_input_is_rejected_and_counted(
    stack: StackConfig, override: dict[str, list[object]], reason: str
) -> None:
    url = stack.url("model-server")
    payload = body(**override)
    if reason == "nan":  # JSON has no NaN literal; send what a buggy client would send
        response = requests.post(
            f"{url}/v2/models/{MODEL}/infer",
            data=requests.models.complexjson.dumps(payload),
            headers={"content-type": "application/json"},
            timeout=5,
        )
    else:
        response = requests.post(f"{url}/v2/models/{MODEL}/infer", json=payload, timeout=5)
    assert response.status_code == 400
    metrics = requests.get(f"{url}/metrics", timeout=5).text
    counter = f'mlchaos_model_validation_failures_total{{model="{MODEL}",reason="{reason}"}}'
    assert counter in metrics


def test_missing_feature_is_rejected(stack: StackConfig) -> None:
    payload = body()
    payload["inputs"] = payload["inputs"][1:]  # type: ignore[index]
    url = f"{stack.url('model-server')}/v2/models/{MODEL}/infer"
    response = requests.post(url, json=payload, timeout=5)
    assert (response.status_code, response.json()["error"]) == (400, "input 'income' is missing")


def test_model_server_follows_promotions_and_rollbacks(stack: StackConfig) -> None:
    registry = stack.url("registry")
    assert served_version(stack) == "v2"
    promoted = requests.post(
        f"{registry}/v1/models/{MODEL}/promote", json={"version": "v1", "actor": "test"}, timeout=5
    )
    assert promoted.status_code == 200
    try:
        wait_until(lambda: served_version(stack) == "v1", timeout=5)
    finally:
        requests.post(
            f"{registry}/v1/models/{MODEL}/rollback",
            json={"actor": "test", "from_version": "v1"},
            timeout=5,
        )
    wait_until(lambda: served_version(stack) == "v2", timeout=5)


def test_registry_enforces_lease_ttl_by_itself(stack: StackConfig) -> None:
    registry = stack.url("registry")
    answer = requests.post(
        f"{registry}/v1/models/{MODEL}/promote",
        json={"version": "v3-constant", "actor": "test", "lease_ttl_s": 1.0},
        timeout=5,
    ).json()
    lease = answer["lease"]["id"]
    assert served_version(stack) in ("v2", "v3-constant")

    def reverted() -> bool:
        return requests.get(f"{registry}/v1/models/{MODEL}", timeout=5).json()["production"] == "v2"

    wait_until(reverted, timeout=10)
    audit = requests.get(f"{registry}/v1/models/{MODEL}/audit", timeout=5).json()["audit"]
    ends = [e for e in audit if e["lease_id"] == lease and e["action"] != "promote"]
    assert [(e["action"], e["reason"], e["actor"]) for e in ends] == [
        ("rollback", "lease_expired", "registry")
    ]


def test_rollback_controller_acts_on_rollback_alerts_only_when_enabled(stack: StackConfig) -> None:
    registry, controller = stack.url("registry"), stack.url("rollback-controller")
    requests.post(
        f"{registry}/v1/models/{MODEL}/promote",
        json={"version": "v3-crashing", "actor": "test"},
        timeout=5,
    )
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "ModelHighErrorRate",
            "action": "rollback",
            "model": MODEL,
            "version": "v3-crashing",
        },
    }
    page_only = {"status": "firing", "labels": {**alert["labels"], "action": "page"}}
    try:
        requests.post(f"{controller}/v1/enabled", json={"enabled": False}, timeout=5)
        off = requests.post(f"{controller}/alerts", json={"alerts": [alert]}, timeout=5).json()
        assert off == {"done": [], "enabled": False}
        requests.post(f"{controller}/v1/enabled", json={"enabled": True}, timeout=5)
        ignored = requests.post(f"{controller}/alerts", json={"alerts": [page_only]}, timeout=5)
        assert ignored.json()["done"] == []
        done = requests.post(f"{controller}/alerts", json={"alerts": [alert]}, timeout=5).json()
        assert done["done"] == [{"model": MODEL, "from": "v3-crashing"}]
        again = requests.post(f"{controller}/alerts", json={"alerts": [alert]}, timeout=5).json()
        assert again["done"] == []  # a repeated notification does not roll back twice
    finally:
        requests.post(f"{controller}/v1/enabled", json={"enabled": True}, timeout=5)
        requests.post(
            f"{registry}/v1/models/{MODEL}/rollback",
            json={"actor": "test", "from_version": "v3-crashing"},
            timeout=5,
        )
    assert requests.get(f"{registry}/v1/models/{MODEL}", timeout=5).json()["production"] == "v2"


def test_fallback_controller_switches_to_the_fallback_once_under_its_own_name(
    stack: StackConfig,
) -> None:
    """The team's own mitigation for traffic faults: the model server answers with the
    fallback while the registry's switch is on, and the audit log names who switched it."""
    registry, controller = stack.url("registry"), stack.url("fallback-controller")
    alert = {"status": "firing", "labels": {"alertname": "EdgeHighErrorRate",
                                             "action": "fallback", "model": MODEL}}  # fmt: skip
    try:
        done = requests.post(f"{controller}/alerts", json={"alerts": [alert]}, timeout=5).json()
        assert done["done"] == [{"model": MODEL, "fallback": True}]
        again = requests.post(f"{controller}/alerts", json={"alerts": [alert]}, timeout=5).json()
        assert again["done"] == []  # already on: a repeated notification changes nothing
        answer = wait_until(
            lambda: (r := infer(stack)).headers.get("x-model-version") == "fallback-v1" and r,
            timeout=5,
        )
        assert answer.json()["model_version"] == "fallback-v1"
        imputed = infer(stack, age=[None])  # the fallback imputes what is missing
        assert imputed.status_code == 200
        [entry] = [e for e in requests.get(f"{registry}/v1/models/{MODEL}/audit", timeout=5)
                   .json()["audit"] if e["action"] == "fallback_on"][-1:]  # fmt: skip
        assert (entry["actor"], entry["reason"]) == (
            "fallback-controller",
            "alert EdgeHighErrorRate firing",
        )
    finally:
        restored = requests.post(
            f"{registry}/v1/models/{MODEL}/restore",
            json={"version": "v2", "actor": "test", "reason": "done"}, timeout=5,
        ).json()  # fmt: skip
    assert [e["action"] for e in restored["audit"]] == ["fallback_off"]
    wait_until(lambda: infer(stack).headers.get("x-model-version") == "v2", timeout=5)


def infer(stack: StackConfig, **override: list[object]) -> requests.Response:
    url = f"{stack.url('model-server')}/v2/models/{MODEL}/infer"
    return requests.post(url, json=body(**override), timeout=5)


def test_official_pagerduty_client_against_the_receiver(stack: StackConfig) -> None:
    ca = stack.tls_dir / "cert.pem"
    client = events_client(stack.routing_key(), stack.url("pagerduty"), ca)
    dedup = client.trigger("integration: model on fire", "test-source", dedup_key="it-1")
    assert dedup == "it-1"
    client.acknowledge(dedup)
    client.resolve(dedup)
    listed = requests.get(f"{stack.url('pagerduty')}/incidents", verify=str(ca), timeout=5).json()
    [incident] = [i for i in listed["incidents"] if i["dedup_key"] == "it-1"]
    assert incident["status"] == "resolved"
    assert incident["triggered_at"] <= incident["acknowledged_at"] <= incident["resolved_at"]
    assert stack.routing_key() not in str(listed)  # the secret never leaves the receiver


def test_receiver_rejects_invalid_events_with_400_and_errors(stack: StackConfig) -> None:
    client = events_client("z" * 32, stack.url("pagerduty"), stack.tls_dir / "cert.pem")
    with pytest.raises(pagerduty.HttpError) as err:
        client.trigger("s", "src")
    response = err.value.response
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"],
    }


def test_receiver_tls_is_verified(stack: StackConfig, tmp_path: object) -> None:
    client = pagerduty.EventsApiV2Client(stack.routing_key(), base_url=stack.url("pagerduty"))
    client.max_network_attempts = 1
    client.sleep_timer = 0.01
    with pytest.raises(pagerduty.Error):  # the system trust store does not know our CA
        client.trigger("s", "src")
