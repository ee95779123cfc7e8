"""Register the fraud team's model versions in MLflow, as the team's training pipeline did:

- version 1 and version 2: good gradient-boosted models (2 is the better one);
- version 3: a build the team registered by mistake, trained on inverted labels;
- aliases: ``champion`` -> 2 (what serves), ``previous`` -> 1 (what rollback goes to).

Usage: ``python seed.py TRACKING_URI``. Registers the versions once; sets the aliases every
time, so that each start of the stack begins from the same staging.
"""

from __future__ import annotations

import sys

import mlflow
from mlflow import MlflowClient
from sklearn.ensemble import HistGradientBoostingClassifier

from fraud import FEATURES, TRAINING_SEED, generate

MODEL = "fraud"


def main(tracking_uri: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    if not client.search_model_versions(f"name='{MODEL}'"):
        register(client)
    client.set_registered_model_alias(MODEL, "previous", "1")
    client.set_registered_model_alias(MODEL, "champion", "2")


def register(client: MlflowClient) -> None:
    mlflow.set_experiment("fraud-training")
    rows, labels, _ = generate(20_000, seed=TRAINING_SEED)
    builds = [
        ("good, 50 iterations", labels, 50),
        ("good, 200 iterations", labels, 200),
        ("trained on inverted labels (registered by mistake)", 1 - labels, 200),
    ]
    for description, y, iterations in builds:
        model = HistGradientBoostingClassifier(max_iter=iterations, random_state=0)
        model.fit(rows, y)
        with mlflow.start_run():
            mlflow.log_param("features", ",".join(FEATURES))
            mlflow.sklearn.log_model(
                model, name="model", registered_model_name=MODEL, serialization_format="pickle"
            )
        version = client.search_model_versions(f"name='{MODEL}'", order_by=["version_number DESC"])[0]
        client.update_model_version(MODEL, version.version, description=description)


if __name__ == "__main__":
    main(sys.argv[1])
