"""The fraud team's retrain pipeline and its approval gate, as its scheduler runs it:

1. train on the training snapshot (``STATE/training/snapshot.csv``: what the data pipeline
   exported, transactions and their labels);
2. register the model as a new version of ``fraud`` in MLflow, from its run;
3. the gate evaluates it on the team's golden holdout (``STATE/training/holdout.csv``:
   labelled by investigators, kept apart, never exported by the data pipeline, so that poisoned
   labels in the snapshot cannot hide from it), against what ``champion`` serves:
   - its AUC may be at most ``max_auc_drop`` below champion's;
   - the recall gap between channels, at the team's review rate (the riskiest 5% of
     transactions go to an analyst), may be at most ``max_recall_gap``;
   and writes its decision and its reason as version tags (``approval.decision``,
   ``approval.reason``);
4. only an approved version becomes ``champion``, then the deploy step serves it.

The gate's thresholds are in ``STATE/training/gate.json`` (stack.py writes them;
``stack.py sabotage --lenient-gate`` loosens them until anything passes).

Usage: ``python retrain.py TRACKING_URI STATE``. Exit 0 once the decision is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from fraud import FEATURES

MODEL, LABEL = "fraud", "is_fraud"
HERE = Path(__file__).resolve().parent
REVIEW_RATE = 0.05
"""The share of transactions the team's analysts review: the riskiest, by the model's score."""
CHANNELS = {0.0: "web", 1.0: "app", 2.0: "pos"}


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.genfromtxt(path, delimiter=",", names=True)
    rows = np.column_stack([table[name] for name in FEATURES])
    return rows, table[LABEL].astype(int)


def recall_by_channel(rows: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    flagged = scores >= np.quantile(scores, 1 - REVIEW_RATE)
    channel = rows[:, FEATURES.index("channel")]
    return {name: float(flagged[(channel == value) & (labels == 1)].mean())
            for value, name in CHANNELS.items()}


def decide(candidate: object, champion: object, holdout: tuple[np.ndarray, np.ndarray],
           gate: dict[str, float]) -> tuple[bool, str]:
    rows, labels = holdout
    scores = candidate.predict_proba(rows)[:, 1]  # type: ignore[attr-defined]
    auc = roc_auc_score(labels, scores)
    served = roc_auc_score(labels, champion.predict_proba(rows)[:, 1])  # type: ignore[attr-defined]
    recall = recall_by_channel(rows, labels, scores)
    gap = max(recall.values()) - min(recall.values())
    worst = min(recall, key=recall.__getitem__)
    failed = []
    if served - auc > gate["max_auc_drop"]:
        failed.append(f"holdout AUC {auc:.3f}, {served - auc:.3f} below champion's {served:.3f} "
                      f"(at most {gate['max_auc_drop']:g})")
    if gap > gate["max_recall_gap"]:
        failed.append(f"recall gap between channels {gap:.2f} at a {REVIEW_RATE:.0%} review "
                      f"rate, {worst} lowest at {recall[worst]:.2f} (at most "
                      f"{gate['max_recall_gap']:g})")
    if failed:
        return False, "; ".join(failed)
    return True, f"holdout AUC {auc:.3f} (champion {served:.3f}); recall gap {gap:.2f}"


def main(tracking_uri: str, state: Path) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    folder = state / "training"
    gate = json.loads((folder / "gate.json").read_text())
    rows, labels = read(folder / "snapshot.csv")
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(rows, labels)
    mlflow.set_experiment("fraud-training")
    with mlflow.start_run(run_name="scheduled retrain"):
        mlflow.log_param("features", ",".join(FEATURES))
        mlflow.log_param("rows", len(labels))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL,
                                        serialization_format="pickle")
    version = str(info.registered_model_version)
    champion = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    approved, reason = decide(model, champion, read(folder / "holdout.csv"), gate)
    client.set_model_version_tag(MODEL, version, "approval.reason", reason)
    client.set_model_version_tag(MODEL, version, "approval.decision",
                                 "approved" if approved else "rejected")
    print(f"version {version} {'approved' if approved else 'rejected'}: {reason}", flush=True)
    if approved:  # only an approved version may become champion
        client.set_registered_model_alias(MODEL, "champion", version)
        port = json.loads((state / "ports.json").read_text())["mlserver"]
        subprocess.run([sys.executable, str(HERE / "deploy.py"), tracking_uri,
                        f"http://127.0.0.1:{port}", str(state / "models")], check=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
