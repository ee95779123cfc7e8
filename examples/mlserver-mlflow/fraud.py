"""The fraud team's data: card transactions with a fixed ground truth, generated from a seed so
that training and the committed `traffic.csv` are reproducible without a download."""

from __future__ import annotations

import numpy as np

FEATURES = ("amount", "hour", "account_age_days", "distance_km", "prior_txns", "channel")
"""In the order the model takes them: one [N, 6] FP64 tensor."""
CHANNELS = {"web": 0.0, "app": 1.0, "pos": 2.0}


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` transactions (rows in FEATURES order) and whether each was fraud (1)."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    hour = rng.integers(0, 24, n).astype(float)
    age = np.round(rng.exponential(700.0, n))
    distance = np.round(rng.exponential(15.0, n), 1)
    prior = rng.poisson(20, n).astype(float)
    channel = rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.35, 0.15])
    night = ((hour < 6) | (hour > 22)).astype(float)
    logit = (
        -3.3 + 0.012 * (amount - 50) + 1.1 * night - 0.002 * age
        + 0.03 * distance - 0.04 * prior + 0.6 * (channel == 0.0)
    )
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([amount, hour, age, distance, prior, channel]), fraud
