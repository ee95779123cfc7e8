"""The fraud team's feature store definitions (Feast): a customer entity and two feature views
of it, read from the customer table the feature pipeline writes (``data/customers.parquet``
beside this file), materialized into Redis, the online store the model server reads."""

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64

customer = Entity(name="customer", join_keys=["customer_id"], description="a card holder")

customers_table = FileSource(
    name="customers",
    path=str(Path(__file__).resolve().parent / "data" / "customers.parquet"),
    timestamp_field="event_timestamp",
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=3650),
    schema=[Field(name="account_age_days", dtype=Float64)],
    source=customers_table,
)

customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=timedelta(days=3650),
    schema=[Field(name="prior_txns", dtype=Float64)],
    source=customers_table,
)
