"""Real Locust traffic, as a subprocess, against the real model server."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from mlchaos.load.payload import prepare
from mlchaos.load.runner import Locust
from mlchaos.protocols import Codec
from mlchaos.reference.config import StackConfig
from mlchaos.schema import Load
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


def served_requests(stack: StackConfig) -> float:
    metrics = requests.get(f"{stack.url('model-server')}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mlchaos_model_requests_total{") and 'code="200"' in line
    )


def test_locust_drives_the_model_and_reports_what_it_achieved(
    stack: StackConfig, tmp_path: Path
) -> None:
    before = served_requests(stack)
    with Locust(
        Load(users=4, rate=80, ramp_up=0),
        stack.url("model-server"),
        "credit-risk",
        prepare(Codec(), tmp_path / "payload.jsonl", dataset=stack.traffic_path),
        tmp_path,
    ) as locust:
        wait_until(lambda: served_requests(stack) - before >= 150, timeout=30)
    stats = locust.stats
    assert stats is not None
    assert stats.requests >= 150 and stats.failures == 0
    assert stats.achieved_rps > 0 and stats.p99_ms is not None
    # Locust's count and the server's own count agree: the load figure is real.
    assert abs((served_requests(stack) - before) - stats.requests) <= 8
