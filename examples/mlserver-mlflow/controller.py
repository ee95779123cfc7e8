"""The fraud team's controller: an Alertmanager webhook receiver. For each firing alert
labelled ``action="rollback"`` it points MLflow's ``champion`` alias at the version ``previous``
names, unless it already does, and runs the deploy step. For each labelled
``action="rematerialize"`` (the online store lost features) it runs the feature pipeline's
materialization again. For each labelled ``action="reload_secret"`` (the feature store refuses
the model server's password) it runs the secret-propagation step: the deploy step again, which
reloads the model, which reads the team's secret file again. Every action goes to its log.

Usage: ``python controller.py PORT TRACKING_URI MLSERVER_URL MODELS_DIR FEATURE_REPO LOG``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlflow import MlflowClient

from deploy import ALIAS, MODEL, deploy
from fraud import VIEWS

PORT, TRACKING, MLSERVER, MODELS, FEATURE_REPO, LOG = sys.argv[1:7]
LOCK = threading.Lock()
MATERIALIZING = threading.Lock()
RELOADING = threading.Lock()
HERE = Path(__file__).resolve().parent


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


def rematerialize(alert: str) -> None:
    """Load every customer's features into the online store again (what the nightly pipeline
    does), at most once at a time: repeated notifications of one loss act once."""
    if not MATERIALIZING.acquire(blocking=False):
        return
    try:
        log(action="rematerialize", alert=alert)
        done = subprocess.run([sys.executable, str(HERE / "materialize.py"), FEATURE_REPO,
                               "--views", *VIEWS], cwd=HERE, capture_output=True, text=True)  # fmt: skip
        log(action="rematerialized" if done.returncode == 0 else "rematerialize failed",
            output=done.stderr[-500:] if done.returncode else "")  # fmt: skip
    finally:
        MATERIALIZING.release()


def reload_secret(alert: str) -> None:
    """Propagate the feature store's secret to the model server: reload what serves, at most
    once at a time."""
    if not RELOADING.acquire(blocking=False):
        return
    try:
        log(action="reload_secret", alert=alert)
        with LOCK:
            served = deploy(TRACKING, MLSERVER, Path(MODELS))
        log(action="reloaded", version=served)
    except Exception as exc:  # logged, and tried again at the next notification
        log(action="reload failed", error=type(exc).__name__)
    finally:
        RELOADING.release()


class Webhook(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()
        for alert in body.get("alerts", []):
            labels = alert.get("labels", {})
            if alert.get("status") != "firing":
                continue
            if labels.get("action") == "rollback":
                roll_back(labels.get("alertname", ""))
            elif labels.get("action") == "reload_secret":
                threading.Thread(target=reload_secret, args=(labels.get("alertname", ""),),
                                 daemon=True).start()  # fmt: skip
            elif labels.get("action") == "rematerialize":
                threading.Thread(target=rematerialize, args=(labels.get("alertname", ""),),
                                 daemon=True).start()  # fmt: skip

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Webhook).serve_forever()
