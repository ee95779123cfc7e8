"""Names of the registry versions the reference stack's faults promote (no scikit-learn here:
the CLI imports this, and should start fast)."""

from __future__ import annotations


def bad_version_name(variant: str) -> str:
    """The registry version a ``bad_version`` fault of ``variant`` promotes."""
    return f"v3-{variant.replace('_', '-')}"


def segment_version_name(segment: str) -> str:
    """The registry version a ``segment_regression`` fault on ``segment`` promotes."""
    return f"v3-segment-{segment}"
