"""SLO burn-rate alerting: the profiles' arithmetic, the rules' shape, and bad SLOs refused
at their line."""

from __future__ import annotations

import pytest

from mlchaos.burnrate import alert_name, detection_time, prom_duration, slo_rules, windows
from mlchaos.errors import ValidationFailed
from mlchaos.loader import parse_document
from mlchaos.schema.slo import PROFILES, SloSpec

SLI = {"errors": "sum(rate(e[{{window}}]))", "total": "sum(rate(t[{{window}}]))"}


def slo(**alerting: object) -> SloSpec:
    return SloSpec.model_validate(
        {"name": "availability", "objective": "99.9%", "sli": SLI, "alerting": alerting}
    )


def test_the_workbook_pages_on_2_percent_of_a_30_day_budget_in_an_hour() -> None:
    """14.4x a 0.1% budget over 1 h spends 14.4 h of a 720 h budget's worth: 2% of it. A
    total outage (100% errors) trips that in 14.4 x 0.001 x 3600 s = 51.84 s."""
    page, slow, ticket = PROFILES["workbook"]
    service = slo()
    assert detection_time(service, page, 1.0) == pytest.approx(51.84)
    assert detection_time(service, slow, 1.0) == pytest.approx(6 * 0.001 * 6 * 3600)
    assert detection_time(service, page, 0.01) is None  # 10x the budget: under 14.4x, never
    assert detection_time(service, ticket, 0.01) == pytest.approx(0.1 * 3 * 86400)
    scaled = slo(time_scale=0.01)  # staging time: a hundredth of every window
    assert detection_time(scaled, page, 1.0) == pytest.approx(0.5184)


def test_windows_are_scaled_and_named_as_prometheus_durations() -> None:
    scaled = slo(profile="page-3x-escalate-6x", time_scale=0.01)
    assert [prom_duration(w) for w in windows(scaled)] == ["3s", "36s"]
    assert prom_duration(0.25) == "250ms" and prom_duration(86400 * 3) == "3d"
    [group] = slo_rules((scaled,), prefix="Fraud")
    alerts = [r for r in group["rules"] if "alert" in r]
    assert [a["alert"] for a in alerts] == [
        "FraudAvailabilityBurnRatePage", "FraudAvailabilityBurnRateEscalate"]  # fmt: skip
    assert alerts[1]["expr"] == (
        'slo:sli_error:ratio_rate36s{slo="availability"} > 0.006\n'
        'and\nslo:sli_error:ratio_rate3s{slo="availability"} > 0.006'
    )
    assert alerts[1]["labels"] == {
        "severity": "critical", "slo": "availability", "burn_profile": "page-3x-escalate-6x",
        "burn_tier": "escalate", "burn_factor": "6"}  # fmt: skip
    assert "time scaled x0.01" in alerts[1]["annotations"]["summary"]
    assert alert_name(scaled, PROFILES["4x-for-1h"][0]) == "AvailabilityBurnRatePage"


@pytest.mark.parametrize(
    ("patch", "said"),
    [
        ("alerting: {profile: fastest}", "slos.0.alerting: no burn-rate profile 'fastest'"),
        ("objective: 100%", "slos.0: an objective of 100% leaves no error budget"),
        ("errors: sum(rate(e[5m]))", "slos.0.sli: 'errors' must take the window as {{window}}"),
        ("period: 400d", "slos.0.period: a period must be at most 366d"),
    ],
)
def test_a_bad_slo_is_refused_at_its_line(patch: str, said: str) -> None:
    key = patch.split(":")[0]
    lines = {
        "alerting": "    alerting: {profile: workbook}",
        "objective": "    objective: 99%",
        "errors": "      errors: sum(rate(e[{{window}}]))",
        "period": "    period: 30d",
    }
    text = SERVICE.replace(lines[key], lines[key].split(key)[0] + patch)
    with pytest.raises(ValidationFailed) as failed:
        from mlchaos.schema.service import ServiceFile

        parse_document(text, ServiceFile, source="service.yaml")
    problems = [str(p) for p in failed.value.problems]
    assert any(said in p and p.startswith("service.yaml:") for p in problems), problems


SERVICE = """\
version: 1
name: s
model: m
endpoints: {gateway: "http://127.0.0.1:1", prometheus: "http://127.0.0.1:2",
            alertmanager: "http://127.0.0.1:3"}
traffic_query: sum(rate(t[5s]))
slos:
  - name: availability
    objective: 99%
    period: 30d
    sli:
      errors: sum(rate(e[{{window}}]))
      total: sum(rate(t[{{window}}]))
    alerting: {profile: workbook}
"""
