"""The fraud team's rollback controller: an Alertmanager webhook receiver. For each firing alert
labelled ``action="rollback"`` it points MLflow's ``champion`` alias at the version ``previous``
names, unless it already does, and runs the deploy step. Every action goes to its log.

Usage: ``python controller.py PORT TRACKING_URI MLSERVER_URL MODELS_DIR LOG``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlflow import MlflowClient

from deploy import ALIAS, MODEL, deploy

PORT, TRACKING, MLSERVER, MODELS, LOG = sys.argv[1:6]
LOCK = threading.Lock()


def log(**entry: object) -> None:
    with Path(LOG).open("a") as out:
        out.write(json.dumps({"at": time.time(), **entry}) + "\n")


def roll_back(alert: str) -> None:
    client = MlflowClient(TRACKING)
    with LOCK:
        champion = client.get_model_version_by_alias(MODEL, ALIAS).version
        previous = client.get_model_version_by_alias(MODEL, "previous").version
        if champion == previous:
            return
        client.set_registered_model_alias(MODEL, ALIAS, previous)
        log(action="rollback", alert=alert, from_version=champion, to_version=previous)
        deploy(TRACKING, MLSERVER, Path(MODELS))
        log(action="deployed", version=previous)


class Webhook(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()
        for alert in body.get("alerts", []):
            labels = alert.get("labels", {})
            if alert.get("status") == "firing" and labels.get("action") == "rollback":
                roll_back(labels.get("alertname", ""))

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Webhook).serve_forever()
