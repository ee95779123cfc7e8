"""The registry on disk: immutability, alias history, audit, and leases that expire alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchaos.errors import TargetError
from mlchaos.reference.model_variants import ConstantModel
from mlchaos.reference.registry import Registry


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Registry, Clock]:
    clock = Clock()
    reg = Registry(tmp_path, clock=clock)
    for version, p in (("v1", 0.3), ("v2", 0.35), ("bad", 0.99)):
        reg.register("m", version, ConstantModel(p), {"reference": {"positive_share": 0.3}})
    reg.promote("m", "v1", "test")
    reg.promote("m", "v2", "test")
    return reg, clock


def test_versions_are_immutable_and_verified(registry: tuple[Registry, Clock]) -> None:
    reg, _ = registry
    with pytest.raises(TargetError, match="immutable"):
        reg.register("m", "v1", ConstantModel(0.5), {})
    model, meta = reg.load("m", "v2")
    assert model.probability == 0.35 and len(meta["sha256"]) == 64
    artifact = reg.root / "artifacts" / f"{meta['sha256']}.pkl"
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    with pytest.raises(TargetError, match="does not match its sha256"):
        reg.load("m", "v2")


def test_rollback_pops_history_and_guards_on_from_version(registry: tuple[Registry, Clock]) -> None:
    reg, _ = registry
    reg.promote("m", "bad", "chaos")
    assert (reg.aliases("m").production, reg.aliases("m").previous) == ("bad", "v2")
    assert reg.rollback("m", "ctl", from_version="v2") is None  # not production: no-op
    entry = reg.rollback("m", "ctl", "alert", from_version="bad")
    assert entry is not None and (entry.from_version, entry.to_version) == ("bad", "v2")
    assert reg.rollback("m", "ctl", from_version="bad") is None  # a repeated alert
    assert [e.action for e in reg.audit("m")] == ["promote", "promote", "promote", "rollback"]


def test_lease_expires_by_itself(registry: tuple[Registry, Clock]) -> None:
    reg, clock = registry
    _, lease = reg.promote("m", "bad", "chaos", lease_ttl_s=30)
    assert lease is not None
    clock.now += 29
    assert reg.expire_leases() == []
    clock.now += 2
    [entry] = reg.expire_leases()
    assert (entry.action, entry.reason, entry.lease_id) == ("rollback", "lease_expired", lease.id)
    assert reg.aliases("m").production == "v2"
    assert reg.leases() == []


def test_release_after_mitigation_records_the_end_without_undoing_twice(
    registry: tuple[Registry, Clock],
) -> None:
    reg, _ = registry
    _, lease = reg.promote("m", "bad", "chaos", lease_ttl_s=30)
    assert lease is not None
    reg.rollback("m", "rollback-controller", from_version="bad")
    entry = reg.release(lease.id, "chaos")
    assert (entry.action, entry.reason) == ("lease_released", "already undone")
    assert reg.aliases("m").history == ("v1", "v2")
    with pytest.raises(TargetError, match="no active lease"):
        reg.release(lease.id, "chaos")


def test_promoting_production_again_is_an_error(registry: tuple[Registry, Clock]) -> None:
    reg, _ = registry
    with pytest.raises(TargetError, match="already production"):
        reg.promote("m", "v2", "chaos")
