"""Names of the registry versions the reference stack's faults promote (no scikit-learn here:
the CLI imports this, and should start fast)."""

from __future__ import annotations

__all__ = ["BAD_VARIANTS", "FALLBACK_VERSION", "bad_version_name", "segment_version_name"]

FALLBACK_VERSION = "fallback-v1"
"""What the fallback's answers say they are: the first trained version, behind an input guard."""


def bad_version_name(variant: str) -> str:
    """The registry version a ``bad_version`` fault of ``variant`` promotes."""
    return f"v3-{variant.replace('_', '-')}"


def segment_version_name(segment: str) -> str:
    """The registry version a ``segment_regression`` fault on ``segment`` promotes."""
    return f"v3-segment-{segment}"


BAD_VARIANTS = ("inverted", "constant", "crashing", "wrong_feature_order", "slow")
"""The broken builds the reference registry holds, by the name experiments give them."""
