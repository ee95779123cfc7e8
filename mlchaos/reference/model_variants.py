"""Broken models a ``bad_version`` fault can promote. Each wraps a good estimator.

They live in an importable module because registry artifacts are pickles that name them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = [
    "ConstantModel",
    "CrashingModel",
    "InvertedModel",
    "SegmentRegressionModel",
    "SlowModel",
    "WrongFeatureOrderModel",
]


class InvertedModel:
    """Predicts the opposite class: the classic sign-flipped label mapping."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.base.predict_proba(features))[:, ::-1]


class ConstantModel:
    """Predicts one probability whatever the input: a collapsed model."""

    def __init__(self, probability: float) -> None:
        self.probability = probability

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        p = np.full(len(features), self.probability)
        return np.column_stack([1 - p, p])


class CrashingModel:
    """Raises on every call: an artifact built against a missing dependency."""

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        raise RuntimeError("model artifact is corrupt: feature transformer missing")


class WrongFeatureOrderModel:
    """Feeds the features to the estimator in the wrong order: a silent pipeline bug."""

    def __init__(self, base: Any, order: list[int]) -> None:
        self.base = base
        self.order = order

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.base.predict_proba(features[:, self.order]))


class SlowModel:
    """Answers correctly but slowly: an unoptimised build."""

    def __init__(self, base: Any, delay_s: float) -> None:
        self.base = base
        self.delay_s = delay_s

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        time.sleep(self.delay_s)
        return np.asarray(self.base.predict_proba(features))


class SegmentRegressionModel:
    """Scores one segment as no risk at all ("approve everyone under 30"): aggregate metrics
    barely move while that group is served badly. The gap per segment is what shows it."""

    def __init__(self, base: Any, feature: int, below: float, probability: float = 0.02) -> None:
        self.base = base
        self.feature = feature
        self.below = below
        self.probability = probability

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        proba = np.asarray(self.base.predict_proba(features)).copy()
        hit = features[:, self.feature] < self.below
        proba[hit] = [1 - self.probability, self.probability]
        return proba
