"""What both model scripts write beside their model: MLServer's settings for one model.

Usage (from a script in this folder): ``write(models, name, http, grpc, metrics)``.
"""

from __future__ import annotations

import json
from pathlib import Path


def write(models: Path, name: str, http_port: int, grpc_port: int, metrics_port: int) -> None:
    """MODELS/NAME/model-settings.json (scikit-learn, ./model.joblib) and MODELS/settings.json."""
    (models / name / "model-settings.json").write_text(
        json.dumps(
            {
                "name": name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            }
        )
    )
    (models / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": http_port,
                "grpc_port": grpc_port,
                "metrics_port": metrics_port,
                "parallel_workers": 0,
            }
        )
    )
