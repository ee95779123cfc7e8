"""The reference stack's canary, over its components' real HTTP APIs on loopback: the model
server splits requests by the registry's canary weight, and the canary controller rolls out,
pauses on an analysis without data, stops when aborted, and stops when the registry withdraws
its canary (a lease's end, with no runner). The game days are in tests/e2e/test_gameday.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from mlchaos.reference.canary_controller import default_settings
from mlchaos.reference.config import StackConfig
from tests.conftest import production, wait_until
from tests.integration.test_components import MODEL, body

pytestmark = pytest.mark.integration


def registry(stack: StackConfig, path: str, **payload: Any) -> dict[str, Any]:
    answer = requests.post(f"{stack.url('registry')}/v1/models/{MODEL}{path}", json=payload,
                           timeout=5)  # fmt: skip
    answer.raise_for_status()
    return dict(answer.json())


def canary(stack: StackConfig) -> dict[str, Any] | None:
    model = requests.get(f"{stack.url('registry')}/v1/models/{MODEL}", timeout=5).json()
    return model["canary"]


def answered_by(stack: StackConfig, row: int = 0) -> str:
    """Which version answers the replay's row ``row``: varied rows as the load sends, since
    one row sent hundreds of times is drift, and the team's fallback controller acts on it."""
    lines = stack.traffic_path.read_text().splitlines()
    features = json.loads(lines[row % len(lines)])["features"]
    url = f"{stack.url('model-server')}/v2/models/{MODEL}/infer"
    answer = requests.post(url, json=body(**{k: [v] for k, v in features.items()}), timeout=5)
    answer.raise_for_status()
    return answer.headers["x-model-version"]


def controller(stack: StackConfig, method: str, path: str) -> requests.Response:
    return requests.request(method, f"{stack.url('canary-controller')}{path}", timeout=90)


@pytest.fixture
def settings(stack: StackConfig) -> Iterator[Any]:
    """Rewrite the controller's settings for one test; the stack's own come back after."""

    def write(**analysis: Any) -> None:
        steps = analysis.pop("steps", [1, 5, 25, 50, 100])
        pause = analysis.pop("pause", 0)
        analysis = {"successCondition": "result < 0.15", "interval": 0.2, "count": 2,
                    "failureLimit": 1, "inconclusiveLimit": 3, **analysis}  # fmt: skip
        text = yaml.safe_dump({"steps": steps, "pause": pause, "analysis": analysis})
        stack.canary_settings_path.write_text(text)

    yield write
    controller(stack, "POST", "/abort")
    stack.canary_settings_path.write_text(default_settings(stack.model_name))


def test_the_model_server_gives_the_canary_its_weight_of_requests_evenly(
    stack: StackConfig,
) -> None:
    lease = registry(stack, "/canary", version="v1", actor="test", lease_ttl_s=60)["lease"]
    try:
        registry(stack, "/canary/weight", version="v1", weight=10, actor="test")
        wait_until(lambda: answered_by(stack) == "v1", 15)  # loaded, warmed, in
        answers = [answered_by(stack, row) for row in range(200)]
        assert answers.count("v1") == 20 and answers.count("v2") == 180
        assert all(answers[i:i + 10].count("v1") == 1 for i in range(0, 200, 10))  # evenly
        registry(stack, "/canary/abort", actor="test", reason="done")
        wait_until(lambda: all(answered_by(stack, row) == "v2" for row in range(50)), 10)
    finally:
        requests.delete(f"{stack.url('registry')}/v1/leases/{lease['id']}", timeout=5)
    assert production(stack) == "v2"


def test_an_analysis_without_data_pauses_the_rollout_until_it_is_aborted(
    stack: StackConfig, settings: Any
) -> None:
    settings(query="vector(1) unless vector(1)")  # never any data: inconclusive, forever
    registry(stack, "/canary", version="v1", actor="test", lease_ttl_s=60)
    assert controller(stack, "POST", "/rollouts").status_code == 202
    assert controller(stack, "POST", "/rollouts").status_code == 409  # one at a time
    paused = wait_until(lambda: (s := controller(stack, "GET", "/health").json())["phase"]
                        == "Paused" and s, 20)  # fmt: skip
    assert paused["weight"] == 1 and paused["analysis"] == "Inconclusive"
    assert paused["message"] == "analysis inconclusive 4 times at 1%"
    metrics = controller(stack, "GET", "/metrics").text
    labels = 'name="credit-risk",namespace="mlchaos-reference"'
    assert f'rollout_phase{{{labels},phase="Paused",strategy="canary"}} 1' in metrics
    assert ('analysis_run_info{name="credit-risk-v1",namespace="mlchaos-reference",'
            'phase="Inconclusive"} 1') in metrics  # fmt: skip
    assert canary(stack) == {"version": "v1", "weight": 1.0}  # paused where it was
    assert controller(stack, "POST", "/abort").json() == {"message": "aborted"}
    assert canary(stack) is None and production(stack) == "v2"
    assert controller(stack, "GET", "/health").json()["phase"] == "Degraded"


def test_a_canary_withdrawn_by_its_lease_stops_the_rollout(
    stack: StackConfig, settings: Any
) -> None:
    settings(query="vector(0)", pause=2)  # always successful: it would go all the way
    lease = registry(stack, "/canary", version="v1", actor="test", lease_ttl_s=60)["lease"]
    assert controller(stack, "POST", "/rollouts").status_code == 202
    wait_until(lambda: (canary(stack) or {}).get("weight", 0) >= 5, 20)
    ended = requests.delete(f"{stack.url('registry')}/v1/leases/{lease['id']}", timeout=5)
    assert ended.json()["audit"]["action"] == "canary_abort"
    stopped = wait_until(lambda: (s := controller(stack, "GET", "/health").json())["phase"]
                         == "Degraded" and s, 20)  # fmt: skip
    assert stopped["message"] == "canary v1 withdrawn from the registry"
    assert canary(stack) is None and production(stack) == "v2"  # nothing moved it back in
