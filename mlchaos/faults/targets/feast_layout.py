"""Where Feast keeps a feature view's values in its Redis online store, by Feast's published
online store format: one hash per entity key (the serialized entity key, then the project's
name), with a field per feature named by the little-endian Murmur3 (32-bit, seed 0) hash of
``"VIEW:FEATURE"``, and the view's row timestamp under ``"_ts:VIEW"``.

A view whose fields are gone from a key reads as NOT_FOUND for that entity, and Feast's
materialization writes it again (it skips a row only when the stored timestamp is as new).

    >>> view_fields("customer_activity", ["prior_txns"])
    [b'_ts:customer_activity', b'\\x8b($\\x91']
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["key_pattern", "murmur3_32", "view_fields"]

_MASK = 0xFFFFFFFF


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3's x86 32-bit hash, unsigned: what Feast names feature fields with."""
    c1, c2, h = 0xCC9E2D51, 0x1B873593, seed & _MASK
    body = len(data) - len(data) % 4
    for i in range(0, body, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (_rotl((k * c1) & _MASK, 15) * c2) & _MASK
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _MASK
    tail, k = data[body:], 0
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        h ^= (_rotl((k * c1) & _MASK, 15) * c2) & _MASK
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def view_fields(view: str, features: Iterable[str]) -> list[bytes]:
    """The hash fields that hold ``view``'s values (and its timestamp) in every entity key."""
    hashed = [murmur3_32(f"{view}:{f}".encode()).to_bytes(4, "little") for f in features]
    return [f"_ts:{view}".encode(), *hashed]


def key_pattern(project: str) -> bytes:
    """A ``SCAN MATCH`` pattern for the project's entity keys: they end with its name."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\^" else c for c in project)
    return f"*{escaped}".encode()
