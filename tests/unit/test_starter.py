"""`mlchaos init`'s starter files, from what a Prometheus reports: valid, and honest guesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlchaos.access import Access
from mlchaos.engine.doctor import Check
from mlchaos.engine.starter import starter
from mlchaos.loader import load_any, load_experiment


class Reported:
    """What a Prometheus answers: two rules on the gateway's metrics it can pair a fault with,
    one on the model server's own counters a gateway fault cannot reach, one it cannot read."""

    def __init__(self, names: tuple[str, ...] = ("mlchaos_gateway_requests_total", "up")) -> None:
        self.names = list(names)
        self.asked: list[str] = []

    def intervals(self, alert: str | None = None) -> tuple[float, float]:
        return 15.0, 30.0

    def metric_names(self) -> list[str]:
        return self.names

    def values(self, query: str) -> list[float]:
        self.asked.append(query)
        return [1.0] if query == 'up{instance="127.0.0.1:28000"} == 1' else []

    def alerting_rules(self) -> list[dict[str, Any]]:
        return [
            {"name": "EdgeLatencyHigh", "duration": 60,
             "query": "histogram_quantile(0.99, rate("
                      "mlchaos_gateway_request_duration_seconds_bucket[5m])) > 1"},
            {"name": "EdgeErrors", "duration": 0,
             "query": 'sum(rate(mlchaos_gateway_requests_total{code=~"5.."}[5m])) > 1'},
            {"name": "InferenceErrors", "duration": 0,
             "query": 'sum(rate(rest_server_requests_total{status_code=~"5.."}[5m])) > 1'},
            {"name": "PredictionDrift", "duration": 0, "query": "avg(score) > 0.4"},
        ]  # fmt: skip


def test_a_starter_names_secrets_by_variable_and_every_file_validates(tmp_path: Path) -> None:
    urls = {"gateway": "http://127.0.0.1:28000", "prometheus": "https://prom:9090",
            "alertmanager": "https://am:9093"}  # fmt: skip
    access = Access(username="sre", password_env="PROM_PW", ca_file="/etc/ca.pem")
    made = starter(Reported(), "Fraud Scorer", "fraud", urls, access, "fraud-oncall",
                   "https://127.0.0.1:20443")  # type: ignore[arg-type]  # fmt: skip
    assert sorted(made.files) == ["experiments/edge-errors.yaml",
                                  "experiments/edge-latency-high.yaml", "service.yaml"]  # fmt: skip
    assert sorted(made.unmatched) == ["InferenceErrors", "PredictionDrift"]
    assert made.unmatched["InferenceErrors"].startswith(
        "it reads only rest_server_requests_total, which a gateway error_burst cannot reach"
    )
    assert "url: https://127.0.0.1:20443" in made.files["service.yaml"]
    for name, text in made.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        load_any(tmp_path / name)
    assert "password_env: PROM_PW" in made.files["service.yaml"]
    latency = load_experiment(tmp_path / "experiments/edge-latency-high.yaml")
    assert latency.fault.type == "latency_spike"
    # a target above the pipeline's floor: scrape 15 s + evaluation 30 s + for 60 s
    assert latency.expect.detection.within >= 105
    assert "60s" in made.files["experiments/edge-errors.yaml"]  # a 4-scrape window


def test_a_gateway_scraped_before_its_first_request_is_not_called_unscraped() -> None:
    """A counter has no series until it counts something: the gateway's ``up`` says it is
    scraped all the same. Only a gateway Prometheus does not scrape gets the note."""
    urls = {"gateway": "http://127.0.0.1:28000", "prometheus": "http://p:9090",
            "alertmanager": "http://a:9093"}  # fmt: skip
    note = "Prometheus does not scrape the chaos gateway"
    scraped = starter(Reported(("up",)), "s", "m", urls, Access())  # type: ignore[arg-type]
    assert note not in scraped.files["experiments/edge-errors.yaml"]
    elsewhere = {**urls, "gateway": "http://127.0.0.1:1"}
    unscraped = starter(Reported(("up",)), "s", "m", elsewhere, Access())  # type: ignore[arg-type]
    assert note in unscraped.files["experiments/edge-errors.yaml"]


def test_a_gateway_fault_reaches_only_metrics_taken_at_or_before_the_gateway() -> None:
    from mlchaos.faults.reach import blind_spot, metric_names

    quantile = (
        "histogram_quantile(0.9, sum by (le) (rate(rest_server_request_duration_seconds_bucket"
        '{path="/v2/models/{model_name}/infer"}[10s]))) > 0.3'
    )
    assert metric_names(quantile) == {"rest_server_request_duration_seconds_bucket"}
    assert blind_spot("latency_spike", quantile) == ["rest_server_request_duration_seconds_bucket"]
    ratio = (
        '(sum(rate(mlchaos_gateway_requests_total{code=~"5.."}[10s])) or vector(0)) '
        "/ sum(rate(rest_server_requests_total[10s])) > 0.05"
    )
    assert blind_spot("error_burst", ratio) is None  # one metric taken at the gateway
    assert blind_spot("schema_change", quantile) is None  # a body reaches the server
    assert blind_spot("error_burst", "vector(1) > 0") is None  # nothing to judge by


def test_a_check_says_its_fix_only_when_it_failed() -> None:
    assert Check("model", "ok", "answered 200", "fix it").line == "ok   model: answered 200"
    failed = Check("model", "FAIL", "got HTTP 422", "match the payload").line
    assert failed == "FAIL model: got HTTP 422 (fix: match the payload)"
