"""Run with the example team's Python: write a small scikit-learn model and its MLServer
settings into MODELS_DIR/iris, for the gateway's transparency test.

Usage: python sklearn_model.py MODELS_DIR HTTP_PORT GRPC_PORT METRICS_PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
from mlserver_settings import write
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

models, http_port, grpc_port, metrics_port = Path(sys.argv[1]), *map(int, sys.argv[2:5])
folder = models / "iris"
folder.mkdir(parents=True, exist_ok=True)
features, labels = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), folder / "model.joblib")
write(models, "iris", http_port, grpc_port, metrics_port)
