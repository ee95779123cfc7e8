"""The reference data: a deterministic credit-risk table that every component can regenerate.

The training set and the replay traffic come from the same generator with different seeds,
so a fresh machine needs no download and two machines see identical data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlchaos.reference.features import FEATURES

__all__ = [
    "AGE",
    "FEATURES",
    "REPLAY_SEED",
    "SEGMENTS",
    "TRAIN_SEED",
    "YOUNG_BELOW_AGE",
    "Table",
    "generate",
    "segments_of",
    "write_replay",
]


SEGMENTS = ("young", "adult")
"""Applicant segments, by age: fairness is measured per segment."""
YOUNG_BELOW_AGE = 30.0
AGE = FEATURES.index("age")

TRAIN_SEED = 20240611
REPLAY_SEED = 7


@dataclass(frozen=True)
class Table:
    features: np.ndarray
    """Shape (n, len(FEATURES)), float64."""
    labels: np.ndarray
    """Shape (n,), 1 = default."""


def generate(n: int, seed: int = TRAIN_SEED) -> Table:
    """``n`` rows of applicants whose default risk follows a fixed logistic ground truth."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=10.8, sigma=0.45, size=n)
    debt_ratio = rng.beta(2.0, 5.0, size=n)
    age = rng.uniform(21, 75, size=n).round()
    credit_lines = rng.poisson(4.0, size=n).astype(float)
    utilization = rng.beta(2.0, 3.0, size=n)
    late_payments = rng.poisson(0.6, size=n).astype(float)
    logit = (
        -1.3
        - 1.1 * (np.log(income) - 10.8)
        + 3.2 * (debt_ratio - 0.28)
        - 0.025 * (age - 48)
        + 2.4 * (utilization - 0.4)
        + 0.9 * late_payments
        - 0.05 * (credit_lines - 4)
    )
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    features = np.column_stack([income, debt_ratio, age, credit_lines, utilization, late_payments])
    return Table(features=features, labels=labels)


def segments_of(features: np.ndarray) -> np.ndarray:
    """The segment of each row: ``young`` below 30, else ``adult``."""
    return np.where(features[:, AGE] < YOUNG_BELOW_AGE, SEGMENTS[0], SEGMENTS[1])


def write_replay(path: Path, rows: int = 2000) -> None:
    """The replayed traffic as the service file's ``payload``: JSON lines of features and the
    label the business learns later. The same seed, so every machine replays the same rows."""
    table = generate(rows, seed=REPLAY_SEED)
    with path.open("w") as out:
        for features, label in zip(table.features, table.labels, strict=True):
            row = {"features": dict(zip(FEATURES, map(float, features), strict=True))}
            out.write(json.dumps({**row, "label": int(label)}) + "\n")
