"""The reference model's features, in the order it expects them (no numpy here: the service
file names them, and the CLI reads it without loading the data stack)."""

from __future__ import annotations

__all__ = ["FEATURES"]

FEATURES = ("income", "debt_ratio", "age", "credit_lines", "utilization", "late_payments")
"""Feature names, in the order models expect them."""
