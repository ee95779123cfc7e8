"""Train the reference models at first start and register good and bad versions.

v1 is a logistic regression, v2 a gradient-boosted model; both are trained on the same
deterministic data. Each bad variant wraps v2 so that it is a real, loadable artifact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlchaos.stack import model_variants
from mlchaos.stack.dataset import FEATURES, TRAIN_SEED, generate
from mlchaos.stack.registry import Registry

TRAIN_ROWS = 8000
HOLDOUT_ROWS = 2000


def bad_version_name(variant: str) -> str:
    """The registry version a ``bad_version`` fault of ``variant`` promotes."""
    return f"v3-{variant.replace('_', '-')}"


def bootstrap(registry: Registry, name: str) -> bool:
    """Train and register every version unless the registry already has them. True if trained."""
    if registry.versions(name):
        return False
    train = generate(TRAIN_ROWS, seed=TRAIN_SEED)
    holdout = generate(HOLDOUT_ROWS, seed=TRAIN_SEED + 1)
    reference = {
        "features": list(FEATURES),
        "positive_share": float(train.labels.mean()),
        "feature_means": train.features.mean(axis=0).tolist(),
        "feature_stds": train.features.std(axis=0).tolist(),
        "train_rows": TRAIN_ROWS,
        "seed": TRAIN_SEED,
    }
    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        train.features, train.labels
    )
    v2 = HistGradientBoostingClassifier(max_iter=120, random_state=0).fit(
        train.features, train.labels
    )
    good = {"v1": v1, "v2": v2}
    for version, model in good.items():
        registry.register(name, version, model, _metadata(model, holdout, reference, "good"))
    for variant, model in _bad_variants(v2, reference).items():
        meta = _metadata(model, holdout, reference, f"bad:{variant}")
        registry.register(name, bad_version_name(variant), model, meta)
    registry.promote(name, "v1", actor="bootstrap", reason="first trained version")
    registry.promote(name, "v2", actor="bootstrap", reason="gradient-boosted challenger")
    return True


def _bad_variants(base: Any, reference: dict[str, Any]) -> dict[str, Any]:
    order = list(range(len(FEATURES)))
    order[0], order[1] = order[1], order[0]
    return {
        "inverted": model_variants.InvertedModel(base),
        "constant": model_variants.ConstantModel(0.02),
        "crashing": model_variants.CrashingModel(),
        "wrong_feature_order": model_variants.WrongFeatureOrderModel(base, order),
        "slow": model_variants.SlowModel(base, delay_s=0.3),
    }


def _metadata(model: Any, holdout: Any, reference: dict[str, Any], kind: str) -> dict[str, Any]:
    try:
        proba = np.asarray(model.predict_proba(holdout.features))[:, 1]
        auc: float | None = float(roc_auc_score(holdout.labels, proba))
    except RuntimeError:
        auc = None
    return {"kind": kind, "holdout_auc": auc, "reference": reference}
