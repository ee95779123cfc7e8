"""The fraud team's feature pipeline: write the customer table, register the feature views
(``feast apply``) and load every customer's features into the online store (``feast
materialize``). stack.py runs it at start; the team's controller runs it again when the online
store lost features.

Usage: ``python materialize.py REPO [--views VIEW ...]``: only the views named, with
``--views``; the table and the definitions are applied only without it.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from feast import FeatureStore

from fraud import customers

WRITTEN = datetime(2026, 1, 1, tzinfo=UTC)
"""When the customer table was computed: every row carries it."""


def write_table(repo: Path) -> None:
    table = pd.DataFrame(customers())
    table["event_timestamp"] = pd.Timestamp(WRITTEN)
    (repo / "data").mkdir(exist_ok=True)
    table.to_parquet(repo / "data" / "customers.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--views", nargs="+")
    args = parser.parse_args()
    secret = os.environ.get("FRAUD_REDIS_PASSWORD_FILE", args.repo.parent / "redis-fraud-password")
    os.environ["FRAUD_REDIS_PASSWORD"] = Path(secret).read_text().strip()  # the team's secret
    store = FeatureStore(repo_path=str(args.repo))
    if not args.views:
        write_table(args.repo)
        sys.path.insert(0, str(args.repo.resolve()))  # the repository's definitions
        from definitions import customer, customer_activity, customer_profile, customers_table

        store.apply([customer, customers_table, customer_profile, customer_activity])
    store.materialize(WRITTEN.replace(year=2025), datetime.now(UTC), feature_views=args.views)
    print(f"materialized {', '.join(args.views or ['every view'])} into the online store")


if __name__ == "__main__":
    main()
