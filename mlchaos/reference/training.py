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

from mlchaos.errors import TargetError
from mlchaos.reference import model_variants
from mlchaos.reference.dataset import (
    AGE,
    FEATURES,
    SEGMENTS,
    TRAIN_SEED,
    YOUNG_BELOW_AGE,
    generate,
    segments_of,
)
from mlchaos.reference.registry import Registry
from mlchaos.reference.versions import bad_version_name, segment_version_name

__all__ = ["BAD_VARIANTS", "HOLDOUT_ROWS", "REFERENCE_KEYS", "TRAIN_ROWS", "bootstrap"]

TRAIN_ROWS = 8000
HOLDOUT_ROWS = 2000


def bootstrap(registry: Registry, name: str) -> bool:
    """Train and register every version the registry lacks. True if it trained anything.

    A registry from an older mlchaos gets only the versions it is missing.
    """
    wanted = [
        "v1",
        "v2",
        *(bad_version_name(v) for v in BAD_VARIANTS),
        segment_version_name("young"),
    ]
    have = registry.versions(name)
    if all(v in have for v in wanted) and _reference_is_current(registry, name):
        return False
    train = generate(TRAIN_ROWS, seed=TRAIN_SEED)
    holdout = generate(HOLDOUT_ROWS, seed=TRAIN_SEED + 1)
    segments = segments_of(train.features)
    reference = {
        "features": list(FEATURES),
        "positive_share": float(train.labels.mean()),
        "segment_positive_share": {s: float(train.labels[segments == s].mean()) for s in SEGMENTS},
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
    models: dict[str, tuple[Any, str]] = {"v1": (v1, "good"), "v2": (v2, "good")}
    for variant, model in _bad_variants(v2).items():
        models[bad_version_name(variant)] = (model, f"bad:{variant}")
    young = model_variants.SegmentRegressionModel(v2, AGE, YOUNG_BELOW_AGE)
    models[segment_version_name("young")] = (young, "bad:segment_regression:young")
    accuracy = {}
    for version, (model, kind) in models.items():
        meta = _metadata(model, holdout, reference, kind)
        accuracy[version] = meta["holdout_accuracy"]
        if version not in have:
            registry.register(name, version, model, meta)
    registry.set_reference(name, {**reference, "holdout_accuracy": accuracy})
    if not registry.aliases_path(name).exists():
        registry.promote(name, "v1", actor="bootstrap", reason="first trained version")
        registry.promote(name, "v2", actor="bootstrap", reason="gradient-boosted challenger")
    return True


BAD_VARIANTS = ("inverted", "constant", "crashing", "wrong_feature_order", "slow")
REFERENCE_KEYS = ("segment_positive_share", "holdout_accuracy", "feature_stds")


def _reference_is_current(registry: Registry, name: str) -> bool:
    try:
        reference = registry.reference(name)
    except TargetError:
        return False
    return all(key in reference for key in REFERENCE_KEYS)


def _bad_variants(base: Any) -> dict[str, Any]:
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
        accuracy: float | None = float(((proba >= 0.5) == holdout.labels).mean())
    except RuntimeError:
        auc = accuracy = None
    return {"kind": kind, "holdout_auc": auc, "holdout_accuracy": accuracy, "reference": reference}
