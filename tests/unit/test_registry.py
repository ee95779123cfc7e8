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


def test_a_canary_moves_by_weight_and_promotes_only_while_it_is_the_canary(
    registry: tuple[Registry, Clock],
) -> None:
    reg, _ = registry
    reg.start_canary("m", "bad", "chaos")
    with pytest.raises(TargetError, match="is being rolled out already"):
        reg.start_canary("m", "v1", "chaos")
    withdrawn = reg.abort_canary("m", "ctl", "by hand")
    assert withdrawn is not None and withdrawn.action == "canary_abort"
    assert reg.abort_canary("m", "ctl") is None  # nothing left to withdraw
    with pytest.raises(TargetError, match="is production"):
        reg.start_canary("m", "v2", "chaos")
    reg.start_canary("m", "bad", "chaos")
    assert reg.set_canary_weight("m", "bad", 5, "canary-controller") is not None
    canary = reg.aliases("m").canary
    assert canary is not None and (canary.version, canary.weight) == ("bad", 5)
    reg.rollback("m", "ctl")  # a rollback of production leaves the canary where it was
    assert reg.aliases("m").canary == canary and reg.aliases("m").production == "v1"
    reg.promote("m", "v2", "ctl")
    assert reg.set_canary_weight("m", "v1", 25, "canary-controller") is None  # not the canary
    entry = reg.promote_canary("m", "bad", "canary-controller", "passed every step")
    assert entry is not None and (entry.from_version, entry.to_version) == ("v2", "bad")
    aliases = reg.aliases("m")
    assert (aliases.production, aliases.previous, aliases.canary) == ("bad", "v2", None)
    assert reg.promote_canary("m", "bad", "canary-controller") is None  # once
    assert reg.set_canary_weight("m", "bad", 50, "canary-controller") is None
    with pytest.raises(TargetError, match="percentage"):
        reg.set_canary_weight("m", "bad", 101, "canary-controller")


def test_a_canary_lease_withdraws_it_or_rolls_its_promotion_back_by_itself(
    registry: tuple[Registry, Clock],
) -> None:
    reg, clock = registry
    _, lease = reg.start_canary("m", "bad", "chaos", lease_ttl_s=30)
    assert lease is not None and lease.kind == "canary"
    reg.set_canary_weight("m", "bad", 25, "canary-controller")
    clock.now += 31
    [ended] = reg.expire_leases()
    assert (ended.action, ended.reason, ended.lease_id) == ("canary_abort", "lease_expired",
                                                            lease.id)  # fmt: skip
    assert reg.aliases("m").canary is None and reg.aliases("m").production == "v2"
    # The canary controller cannot move a weight of a withdrawn canary back in.
    assert reg.set_canary_weight("m", "bad", 50, "canary-controller") is None
    # Promoted before its lease ended: the end rolls the promotion back.
    _, lease = reg.start_canary("m", "bad", "chaos", lease_ttl_s=30)
    assert lease is not None
    reg.promote_canary("m", "bad", "canary-controller")
    ended = reg.release(lease.id, "mlchaos")
    assert (ended.action, ended.reason, ended.from_version, ended.to_version) == (
        "rollback", "lease_released", "bad", "v2")  # fmt: skip
    assert reg.aliases("m").production == "v2" and reg.leases() == []


def test_restoring_the_baseline_withdraws_a_canary(registry: tuple[Registry, Clock]) -> None:
    reg, _ = registry
    reg.start_canary("m", "bad", "chaos")
    done = reg.restore("m", "v2", "mlchaos", "baseline")
    assert [e.action for e in done] == ["canary_abort"] and reg.aliases("m").canary is None
    assert reg.restore("m", "v2", "mlchaos", "baseline") == []
