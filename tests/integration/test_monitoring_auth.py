"""Prometheus and Alertmanager behind their own ``--web.config.file``: basic auth over TLS, and
client certificates (mutual TLS), read the way a team's staging serves them. Bearer tokens,
which neither server checks itself (teams put a proxy in front), against a loopback server
that does."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
import yaml

from mlchaos.access import Access
from mlchaos.errors import AccessRefused, InputError, ObservationError
from mlchaos.observe.alertmanager import paging_group_wait
from mlchaos.observe.health import down
from mlchaos.observe.prometheus import Prometheus
from tests.certs import Pki, make_pki
from tests.conftest import free_ports, wait_until

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-monitoring-pw"
RULES = {"groups": [{"name": "fraud", "interval": "3s", "rules": [
    {"alert": "HeadSeriesNegative", "expr": "prometheus_tsdb_head_series < 0", "for": "4s"},
]}]}  # fmt: skip


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _web_config(path: Path, pki: Pki, client_certs: bool = False) -> Path:
    web: dict[str, Any] = {
        "tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)},
        "basic_auth_users": {
            "mlchaos": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        },
    }
    if client_certs:
        web["tls_server_config"] |= {"client_auth_type": "RequireAndVerifyClientCert",
                                     "client_ca_file": str(pki.ca)}  # fmt: skip
    path.write_text(yaml.safe_dump(web))
    return path


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Prometheus (self-scraped every 2 s through its own auth, a second job every 5 s) and
    Alertmanager, both with basic auth over TLS; a second Prometheus that also wants a client
    certificate."""
    tmp = tmp_path_factory.mktemp("monitoring")
    pki = make_pki(tmp / "pki")
    prom, alertmanager, mtls, idle = free_ports(4)
    (tmp / "rules.yml").write_text(yaml.safe_dump(RULES))
    (tmp / "password").write_text(PASSWORD)
    config = {
        "global": {"scrape_interval": "1m", "evaluation_interval": "1m"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [
            {"job_name": "self", "scrape_interval": "2s", "scheme": "https",
             "basic_auth": {"username": "mlchaos", "password_file": str(tmp / "password")},
             "tls_config": {"ca_file": str(pki.ca)},
             "static_configs": [{"targets": [f"127.0.0.1:{prom}"]}]},
            {"job_name": "idle", "scrape_interval": "5s",
             "static_configs": [{"targets": [f"127.0.0.1:{idle}"]}]},
        ],
    }  # fmt: skip
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "pager", "group_wait": "7s"},
        "receivers": [{"name": "pager", "pagerduty_configs": [
            {"routing_key": "0" * 32, "url": "https://127.0.0.1:9/v2/enqueue"}]}],
    }))  # fmt: skip
    processes = [
        _start(["prometheus", f"--config.file={tmp}/prometheus.yml",
                f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{prom}",
                f"--web.config.file={_web_config(tmp / 'web.yml', pki)}"], tmp / "prom.log"),
        _start(["prometheus", f"--config.file={tmp}/prometheus.yml",
                f"--storage.tsdb.path={tmp}/data-mtls", f"--web.listen-address=127.0.0.1:{mtls}",
                f"--web.config.file={_web_config(tmp / 'web-mtls.yml', pki, True)}"],
               tmp / "mtls.log"),
        _start([shutil.which("prometheus-alertmanager") or "alertmanager",
                f"--config.file={tmp}/alertmanager.yml", f"--storage.path={tmp}/am",
                f"--web.listen-address=127.0.0.1:{alertmanager}", "--cluster.listen-address=",
                f"--web.config.file={tmp / 'web.yml'}"], tmp / "am.log"),
    ]  # fmt: skip
    good = Access(username="mlchaos", password_env="MONITORING_PW", ca_file=str(pki.ca))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MONITORING_PW", PASSWORD)
            env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")  # must not win
            for port in (prom, alertmanager):
                wait_until(lambda p=port: _ready(f"https://127.0.0.1:{p}", pki), timeout=60)
            yield {"pki": pki, "good": good, "prometheus": f"https://127.0.0.1:{prom}",
                   "alertmanager": f"https://127.0.0.1:{alertmanager}",
                   "mtls": f"https://127.0.0.1:{mtls}"}  # fmt: skip
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)


def _ready(url: str, pki: Pki) -> bool:
    try:
        answer = requests.get(f"{url}/-/ready", verify=str(pki.ca), auth=("mlchaos", PASSWORD),
                              timeout=2)  # fmt: skip
    except requests.RequestException:
        return False
    return answer.status_code == 200


def test_basic_auth_over_tls_reads_queries_rules_and_the_pipeline(
    monitoring: dict[str, Any],
) -> None:
    prometheus = Prometheus(monitoring["prometheus"], monitoring["good"])
    assert prometheus.alert_rules() == {"HeadSeriesNegative": 4.0}
    # the rule's own group interval, and the scrape interval of the job its metric comes from
    # (the self job, 2 s; not the idle job's 5 s nor the global 1 m)
    assert wait_until(lambda: prometheus.values('up{job="self"}'), timeout=30) == [1.0]
    assert prometheus.intervals("HeadSeriesNegative") == (2.0, 3.0)
    assert prometheus.intervals() == (60.0, 60.0)
    assert paging_group_wait(monitoring["alertmanager"], monitoring["good"]) == 7.0
    pipeline = {name: {"url": monitoring[name], "access": monitoring["good"].model_dump()}
                for name in ("prometheus", "alertmanager")}  # fmt: skip
    assert down(pipeline) is None


def test_a_wrong_password_is_one_clear_line_without_the_secret(
    monitoring: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITORING_PW", "not-the-password")
    for read in (
        lambda: Prometheus(monitoring["prometheus"], monitoring["good"]).values("up"),
        lambda: Prometheus(monitoring["prometheus"], monitoring["good"]).intervals("X"),
        lambda: paging_group_wait(monitoring["alertmanager"], monitoring["good"]),
    ):
        with pytest.raises(AccessRefused) as refused:
            read()
        message = str(refused.value)
        assert "refused mlchaos's credentials (HTTP 401)" in message
        assert "$MONITORING_PW" in message and "\n" not in message
        assert "not-the-password" not in message and PASSWORD not in message


def test_an_unset_variable_is_named(
    monitoring: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITORING_PW")
    with pytest.raises(InputError, match=r"\$MONITORING_PW is not set"):
        Prometheus(monitoring["prometheus"], monitoring["good"])


def test_an_untrusted_certificate_says_which_setting_fixes_it(monitoring: dict[str, Any]) -> None:
    without_ca = monitoring["good"].model_copy(update={"ca_file": None})
    with pytest.raises(ObservationError, match=r"TLS certificate is not trusted \(set ca_file"):
        Prometheus(monitoring["prometheus"], without_ca).values("up")


def test_client_certificates_open_a_prometheus_that_requires_them(
    monitoring: dict[str, Any],
) -> None:
    pki: Pki = monitoring["pki"]
    with pytest.raises(ObservationError):
        Prometheus(monitoring["mtls"], monitoring["good"]).alert_rules()
    with_cert = monitoring["good"].model_copy(
        update={"cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
    )
    assert Prometheus(monitoring["mtls"], with_cert).alert_rules() == {"HeadSeriesNegative": 4.0}


class _BearerOnly(BaseHTTPRequestHandler):
    """Prometheus's query API behind a proxy that checks a bearer token."""

    token = "bearer-token-value"

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        body = {"status": "success", "data": {"resultType": "vector",
                "result": [{"metric": {}, "value": [1.0, "42"]}]}}  # fmt: skip
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_bearer_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BearerOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    access = Access(bearer_token_env="PROM_TOKEN")
    try:
        monkeypatch.setenv("PROM_TOKEN", _BearerOnly.token)
        assert Prometheus(url, access).values("up") == [42.0]
        monkeypatch.setenv("PROM_TOKEN", "wrong")
        with pytest.raises(AccessRefused, match=r"a bearer token \(\$PROM_TOKEN\)") as refused:
            Prometheus(url, access).values("up")
        assert "wrong" not in str(refused.value)
    finally:
        server.shutdown()
