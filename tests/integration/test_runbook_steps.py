"""The rollback hook a service file names, run as the responder's runbook step."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlchaos.hooks import HookFailed
from mlchaos.runbooks.actions import rollback_step
from mlchaos.schema.service import Hook

pytestmark = pytest.mark.integration
INCIDENT = {"id": "P00042", "custom_details": {"alertname": "FraudHighErrorRate"}}


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(500 if self.path == "/broken" else 200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_http_hook_is_called_with_the_incident(hook_server: tuple[str, list[Any]]) -> None:
    url, received = hook_server
    step = rollback_step(Hook.model_validate({"http": {"url": f"{url}/rollback"}}))
    step(INCIDENT)
    assert received == [
        {"incident": "P00042", "alert": "FraudHighErrorRate", "actor": "mlchaos-responder"}
    ]  # who acts, so that the team's audit never takes a drill for a person


def test_a_failing_hook_raises_so_it_is_reported(hook_server: tuple[str, list[Any]]) -> None:
    url, _ = hook_server
    step = rollback_step(Hook.model_validate({"http": {"url": f"{url}/broken"}}))
    with pytest.raises(HookFailed, match=r"the rollback hook: .*/broken answered 500"):
        step(INCIDENT)


def test_command_hook_runs_and_its_failure_raises(tmp_path: Any) -> None:
    marker = tmp_path / "rolled-back"
    rollback_step(Hook(command=("touch", str(marker))))(INCIDENT)
    assert marker.exists()
    with pytest.raises(HookFailed, match="the rollback hook: false exited 1"):
        rollback_step(Hook(command=("false",)))(INCIDENT)
