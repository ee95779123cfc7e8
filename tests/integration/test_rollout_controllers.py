"""Argo Rollouts' and Flagger's own accounts of a canary, read through a real Prometheus from
exposition text written to their metric definitions (`tests/fixtures/exposition`): no cluster
runs here, so the text stands in for the controllers, and Prometheus, PromQL and the adapters
are the real ones. A rollout's states follow one another on the same target, as a scrape would
see them."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml

from mlchaos.observe.prometheus import Prometheus
from mlchaos.observe.rollouts import ArgoRollouts, Flagger, Said
from tests.conftest import FIXTURES, free_ports, wait_until

pytestmark = pytest.mark.integration
EXPOSITION = FIXTURES / "exposition"


class Controller(ThreadingHTTPServer):
    """/metrics serves whichever recorded text ``current`` names."""

    daemon_threads = True
    current = "argo-rollouts-paused.txt"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Exposition)


class Exposition(BaseHTTPRequestHandler):
    server: Controller

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = (EXPOSITION / self.server.current).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Controller, Prometheus]]:
    tmp = tmp_path_factory.mktemp("controllers")
    controller = Controller()
    threading.Thread(target=controller.serve_forever, daemon=True).start()
    [port] = free_ports(1)
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [{
        "job_name": "controller",
        "static_configs": [{"targets": [f"127.0.0.1:{controller.server_address[1]}"]}]}]}
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout=60)
        yield controller, Prometheus(url)
    finally:
        os.killpg(prometheus.pid, signal.SIGKILL)
        prometheus.wait()
        controller.shutdown()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def said_after(
    scraped: tuple[Controller, Prometheus], text: str, read: type[ArgoRollouts] | type[Flagger],
    expected_phase: str,
) -> Said:  # fmt: skip
    """What the adapter reads once Prometheus has scraped ``text``."""
    controller, prometheus = scraped
    controller.current = text
    adapter = read(prometheus, "fraud-staging", "fraud")
    return wait_until(lambda: (s := adapter.said()).phase == expected_phase and s, timeout=30)


@pytest.mark.parametrize(
    ("text", "phase", "analysis"),
    [
        ("argo-rollouts-paused.txt", "paused", "Inconclusive"),
        ("argo-rollouts-aborted.txt", "aborted", "Failed"),
        ("argo-rollouts-promoted.txt", "healthy", "Successful"),
    ],
)
def test_argo_rollouts_phase_and_analysis_read_from_rollout_info(
    scraped: tuple[Controller, Prometheus], text: str, phase: str, analysis: str
) -> None:
    said = said_after(scraped, text, ArgoRollouts, phase)
    assert said == Said("argo-rollouts", phase, analysis)


@pytest.mark.parametrize(
    ("text", "phase", "weight"),
    [
        ("flagger-progressing.txt", "progressing", 10.0),
        ("flagger-failed.txt", "aborted", 0.0),
        ("flagger-succeeded.txt", "promoted", 0.0),
    ],
)
def test_flagger_status_and_canary_weight_read_from_its_gauges(
    scraped: tuple[Controller, Prometheus], text: str, phase: str, weight: float
) -> None:
    said = said_after(scraped, text, Flagger, phase)
    assert said == Said("flagger", phase, None, weight)


def test_a_rollout_the_controller_does_not_export_is_unknown_not_healthy(
    scraped: tuple[Controller, Prometheus],
) -> None:
    _, prometheus = scraped
    assert ArgoRollouts(prometheus, "fraud-staging", "other").said().phase is None
    assert Flagger(prometheus, "elsewhere", "fraud").said() == Said("flagger", None)
