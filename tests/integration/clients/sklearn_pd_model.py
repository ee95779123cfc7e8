"""Run with the example team's Python: write a churn model that takes a pandas DataFrame
with a text column (``plan``), and its MLServer settings, into MODELS_DIR/churn.

MLServer's scikit-learn runtime hands the model what the request's ``pd`` content type
decodes to; the pipeline one-hot encodes ``plan``, so the strings must arrive as strings.

Usage: python sklearn_pd_model.py MODELS_DIR HTTP_PORT GRPC_PORT METRICS_PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import pandas as pd
from mlserver_settings import write
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

models, http_port, grpc_port, metrics_port = Path(sys.argv[1]), *map(int, sys.argv[2:5])
folder = models / "churn"
folder.mkdir(parents=True, exist_ok=True)
frame = pd.DataFrame(
    {"monthly_spend": [20.0, 95.0, 30.0, 120.0, 15.0, 80.0],
     "plan": ["basic", "premium", "basic", "premium", "basic", "standard"]}
)  # fmt: skip
churned = [1, 0, 1, 0, 1, 0]
encode = ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")
model = make_pipeline(encode, LogisticRegression()).fit(frame, churned)
joblib.dump(model, folder / "model.joblib")
write(models, "churn", http_port, grpc_port, metrics_port)
