"""The fraud team's data: card transactions by customers, with a fixed ground truth, generated
from a seed so that training, the feature store and the committed `traffic.csv` are
reproducible without a download.

A transaction's own fields come with the request; what the team knows about the customer
(how old the account is, how many transactions it made before) lives in the feature store,
Feast, keyed by ``customer_id``: the model server looks it up for every request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = ("amount", "hour", "account_age_days", "distance_km", "prior_txns", "channel")
"""In the order the model takes them: one [N, 6] FP64 tensor."""
REQUEST = ("customer_id", "amount", "hour", "distance_km", "channel")
"""What a request carries: one [N, 5] FP64 tensor; the rest comes from the feature store."""
VIEWS = {"customer_profile": ("account_age_days",), "customer_activity": ("prior_txns",)}
"""The feature store's feature views of a customer, and their features."""
CUSTOMERS = 500
CHANNELS = {"web": 0.0, "app": 1.0, "pos": 2.0}
TRAINING_SEED = 20261201
"""The seed of the transactions the team's models are trained on."""


def customers(n: int = CUSTOMERS, seed: int = 11) -> dict[str, np.ndarray]:
    """Every customer's id (1..n) and features, as the feature store holds them."""
    rng = np.random.default_rng(seed)
    return {
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "account_age_days": np.round(rng.exponential(700.0, n)),
        "prior_txns": rng.poisson(20, n).astype(float),
    }


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` transactions (rows in FEATURES order), whether each was fraud (1), and the
    customer who made each."""
    rng = np.random.default_rng(seed)
    known = customers()
    who = rng.integers(0, len(known["customer_id"]), n)
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    hour = rng.integers(0, 24, n).astype(float)
    age = known["account_age_days"][who]
    distance = np.round(rng.exponential(15.0, n), 1)
    prior = known["prior_txns"][who]
    channel = rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.35, 0.15])
    night = ((hour < 6) | (hour > 22)).astype(float)
    logit = (
        -3.3 + 0.012 * (amount - 50) + 1.1 * night - 0.002 * age
        + 0.03 * distance - 0.04 * prior + 0.6 * (channel == 0.0)
    )
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    rows = np.column_stack([amount, hour, age, distance, prior, channel])
    return rows, fraud, known["customer_id"][who]


def write_training(folder: Path) -> None:
    """The training pipeline's files: the snapshot the data pipeline exports (the transactions
    versions 1 and 2 were trained on) and the golden holdout the approval gate keeps apart."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("snapshot.csv", 20_000, TRAINING_SEED), ("holdout.csv", 20_000, 20261202)):
        rows, labels, _ = generate(n, seed)
        staged = folder / f"{name}.new"
        np.savetxt(staged, np.column_stack([rows, labels]), delimiter=",", fmt="%.10g",
                   header=",".join((*FEATURES, "is_fraud")), comments="")
        staged.replace(folder / name)
