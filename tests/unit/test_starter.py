"""`mlchaos init`'s starter files, from what a Prometheus reports: valid, and honest guesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlchaos.access import Access
from mlchaos.engine.doctor import Check
from mlchaos.engine.starter import starter
from mlchaos.loader import load_any, load_experiment


class Reported:
    """What a Prometheus answers: two rules it can guess a fault for, one it cannot."""

    def intervals(self, alert: str | None = None) -> tuple[float, float]:
        return 15.0, 30.0

    def metric_names(self) -> list[str]:
        return ["mlchaos_gateway_requests_total", "up"]

    def alerting_rules(self) -> list[dict[str, Any]]:
        return [
            {"name": "EdgeLatencyHigh", "duration": 60,
             "query": "histogram_quantile(0.99, rate(request_duration_seconds_bucket[5m])) > 1"},
            {"name": "InferenceErrors", "duration": 0,
             "query": 'sum(rate(requests_total{code=~"5.."}[5m])) > 1'},
            {"name": "PredictionDrift", "duration": 0, "query": "avg(score) > 0.4"},
        ]  # fmt: skip


def test_a_starter_names_secrets_by_variable_and_every_file_validates(tmp_path: Path) -> None:
    urls = {"gateway": "http://127.0.0.1:28000", "prometheus": "https://prom:9090",
            "alertmanager": "https://am:9093"}  # fmt: skip
    access = Access(username="sre", password_env="PROM_PW", ca_file="/etc/ca.pem")
    made = starter(Reported(), "Fraud Scorer", "fraud", urls, access, "fraud-oncall")  # type: ignore[arg-type]
    assert sorted(made.files) == ["experiments/edge-latency-high.yaml",
                                  "experiments/inference-errors.yaml", "service.yaml"]  # fmt: skip
    assert made.unmatched == ["PredictionDrift"]
    for name, text in made.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        load_any(tmp_path / name)
    assert "password_env: PROM_PW" in made.files["service.yaml"]
    latency = load_experiment(tmp_path / "experiments/edge-latency-high.yaml")
    assert latency.fault.type == "latency_spike"
    # a target above the pipeline's floor: scrape 15 s + evaluation 30 s + for 60 s
    assert latency.expect.detection.within >= 105
    assert "60s" in made.files["experiments/inference-errors.yaml"]  # a 4-scrape window


def test_a_check_says_its_fix_only_when_it_failed() -> None:
    assert Check("model", "ok", "answered 200", "fix it").line == "ok   model: answered 200"
    failed = Check("model", "FAIL", "got HTTP 422", "match the payload").line
    assert failed == "FAIL model: got HTTP 422 (fix: match the payload)"
