"""Feast's Redis online-store layout, as `mlchaos.faults.targets.feast_layout` computes it: the
hashes are those of the reference implementation (`mmh3`, which Feast uses). The example's
e2e game day removes a view from a real Feast online store with them, and Feast then answers
NOT_FOUND (tests/e2e/test_example_stack.py)."""

from __future__ import annotations

import pytest

from mlchaos.faults.targets.feast_layout import key_pattern, murmur3_32, view_fields

VECTORS = [  # mmh3.hash(data, signed=False), every tail length
    (b"", 0), (b"a", 1009084850), (b"ab", 2613040991), (b"abc", 3017643002),
    (b"abcd", 1139631978), (b"customer_profile:account_age_days", 3597919136),
    (b"hello world!!", 3804944959),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_murmur3_matches_the_reference_implementation(data: bytes, expected: int) -> None:
    assert murmur3_32(data) == expected


def test_a_views_fields_are_its_timestamp_then_each_features_hash() -> None:
    # read back from a Redis that Feast 0.63 materialized: customer_activity's prior_txns
    assert view_fields("customer_activity", ["prior_txns"]) == [
        b"_ts:customer_activity", b"\x8b($\x91"]  # fmt: skip


def test_the_key_pattern_escapes_glob_characters() -> None:
    assert key_pattern("fraud") == b"*fraud"
    assert key_pattern("a*b?[c]") == b"*a\\*b\\?\\[c\\]"
