"""The fraud team's deploy step: make MLServer serve the version MLflow's ``champion`` alias
points to (or another alias: the canary controller deploys ``candidate`` to the candidate
MLServer). It writes the model's ``model-settings.json`` (the version's artifacts, and its
version number, which MLServer puts in every answer and metric), then asks MLServer's model
repository API to load it; MLServer loads the new version before it unloads the old one.

Usage: ``python deploy.py TRACKING_URI MLSERVER_URL MODELS_DIR [ALIAS]``. Exit 0 once MLServer
answers ready for the version, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import requests
from mlflow import MlflowClient

MODEL, ALIAS = "fraud", "champion"


def deploy(tracking_uri: str, mlserver: str, models: Path, alias: str = ALIAS) -> str:
    client = MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias(MODEL, alias)
    artifacts = Path(urlparse(client.get_model_version_download_uri(MODEL, version.version)).path)
    settings = {
        "name": MODEL,
        "implementation": "runtime.FraudModel",
        "parameters": {"uri": str(artifacts), "version": str(version.version)},
    }
    folder = models / MODEL
    staged = folder / "model-settings.json.new"
    staged.write_text(json.dumps(settings, indent=2))
    staged.replace(folder / "model-settings.json")
    answer = requests.post(f"{mlserver}/v2/repository/models/{MODEL}/load", timeout=60)
    answer.raise_for_status()
    deadline = time.monotonic() + 30
    ready = f"{mlserver}/v2/models/{MODEL}/versions/{version.version}/ready"
    while requests.get(ready, timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"MLServer did not load {MODEL} version {version.version}")
        time.sleep(0.2)
    return str(version.version)


if __name__ == "__main__":
    alias = sys.argv[4] if len(sys.argv) > 4 else ALIAS
    served = deploy(sys.argv[1], sys.argv[2], Path(sys.argv[3]), alias)
    print(f"deployed {MODEL} version {served} ({alias})")
