"""Authenticated endpoints in a service file: how they are written, resolved and refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlchaos.access import Access
from mlchaos.engine.compile import compile_experiment
from mlchaos.engine.floor import Floor, measure
from mlchaos.errors import AccessRefused, InputError, ObservationError, ValidationFailed
from mlchaos.loader import load_experiment, load_service
from mlchaos.schema.service import Pipeline
from tests.conftest import ROOT

BASE = """\
version: 1
name: fraud
model: fraud
endpoints:
  gateway: http://127.0.0.1:28000
  prometheus: {prometheus}
  alertmanager: http://127.0.0.1:29093
traffic_query: sum(rate(x[1m]))
"""


def service_at(tmp_path: Path, prometheus: str, extra: str = "") -> Path:
    path = tmp_path / "service.yaml"
    path.write_text(BASE.format(prometheus=prometheus) + extra)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        load_service(path)
    return [str(p) for p in failed.value.problems]


def test_a_url_alone_or_with_credentials_and_tls_files(tmp_path: Path) -> None:
    plain = load_service(service_at(tmp_path, "http://127.0.0.1:29090"))
    assert plain.prometheus_url == "http://127.0.0.1:29090" and plain.prometheus_access.empty
    written = ("\n    url: https://127.0.0.1:29090\n"
               "    basic_auth: {username: sre, password_env: PROM_PW}\n"
               "    ca_file: certs/ca.pem\n    cert_file: certs/me.pem")  # fmt: skip
    service = load_service(service_at(tmp_path, written))
    assert service.prometheus_url == "https://127.0.0.1:29090"
    assert service.prometheus_access == Access(
        username="sre", password_env="PROM_PW", ca_file=str(tmp_path / "certs/ca.pem"),
        cert_file=str(tmp_path / "certs/me.pem"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("prometheus", "message"),
    [
        ("https://sre:hunter2@127.0.0.1:29090",
         ":6: endpoints.prometheus: a URL must not carry credentials (user:password@)"),
        ("\n    url: https://127.0.0.1:29090\n    bearer_token_env: T\n"
         "    basic_auth: {username: sre, password_env: P}",
         "endpoints.prometheus: give 'basic_auth' or 'bearer_token_env', not both"),
        ("\n    url: https://127.0.0.1:29090\n    key_file: k.pem",
         "endpoints.prometheus: 'key_file' needs 'cert_file'"),
        ("\n    url: https://127.0.0.1:29090\n    bearer_token_env: not a name",
         "endpoints.prometheus.bearer_token_env: 'not a name' does not match"),
    ],
)  # fmt: skip
def test_bad_endpoints_are_refused_without_echoing_a_secret(
    tmp_path: Path, prometheus: str, message: str
) -> None:
    found = problems(service_at(tmp_path, prometheus))
    assert any(message in p for p in found), found
    assert not any("hunter2" in p for p in found)


def test_a_compiled_experiment_names_variables_never_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_PW", "the-password-itself")
    written = ("\n    url: https://127.0.0.1:29090\n"
               "    basic_auth: {username: sre, password_env: PROM_PW}")  # fmt: skip
    service = load_service(service_at(tmp_path, written))
    experiment = load_experiment(ROOT / "experiments" / "bad-version.yaml")
    text = str(compile_experiment(experiment, service, tmp_path / "journal.jsonl"))
    assert "'password_env': 'PROM_PW'" in text and "the-password-itself" not in text


def test_a_secret_is_read_when_used_and_its_absence_named(monkeypatch: pytest.MonkeyPatch) -> None:
    access = Access(username="sre", password_env="PROM_PW")
    monkeypatch.delenv("PROM_PW", raising=False)
    with pytest.raises(InputError, match=r"^\$PROM_PW is not set"):
        access.session()
    monkeypatch.setenv("PROM_PW", "pw")
    assert access.session().auth is not None
    assert "pw" not in repr(Access(bearer_token_env="PROM_PW").auth())
    with pytest.raises(InputError, match=r"no-such\.pem: no such file"):
        Access(ca_file="/no-such.pem").session()


class Unreadable:
    """A managed Prometheus: queries and rules work, its configuration is not served."""

    def intervals(self, alert: str | None = None) -> tuple[float, float]:
        raise ObservationError("Prometheus at X did not answer /api/v1/status/config: 404")

    def alert_rules(self) -> dict[str, float]:
        return {"A": 30.0}


def _measure(metrics: Any, declared: Pipeline | None) -> Floor:
    # Alertmanager on a closed port: only a declared group_wait can stand in for it
    return measure(metrics, "http://127.0.0.1:9", "A", None, declared)


def test_declared_intervals_stand_in_for_an_unreadable_configuration_and_say_so() -> None:
    with pytest.raises(ObservationError, match=r"declare pipeline\.scrape_interval"):
        _measure(Unreadable(), None)
    declared = Pipeline(scrape_interval="30s", evaluation_interval="1m", group_wait="10s")
    floor = _measure(Unreadable(), declared)
    assert (floor.scrape_interval_s, floor.evaluation_interval_s, floor.for_s) == (30, 60, 30)
    assert floor.group_wait_s == 10 and floor.source == "intervals and group_wait declared"
    assert floor.explain().endswith("(intervals and group_wait declared in the service file)")


def test_refused_credentials_are_never_read_around() -> None:
    class Refusing(Unreadable):
        def intervals(self, alert: str | None = None) -> tuple[float, float]:
            raise AccessRefused("Prometheus at X refused mlchaos's credentials (HTTP 401)")

    declared = Pipeline(scrape_interval="30s", evaluation_interval="1m", group_wait="10s")
    with pytest.raises(AccessRefused):
        _measure(Refusing(), declared)


def test_a_service_file_declares_its_pipeline(tmp_path: Path) -> None:
    extra = "pipeline: {scrape_interval: 15s, evaluation_interval: 30s}\n"
    service = load_service(service_at(tmp_path, "http://127.0.0.1:29090", extra))
    assert service.pipeline == Pipeline(scrape_interval=15, evaluation_interval=30)
