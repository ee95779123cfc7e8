"""``data_drift``: shift or scale one feature, or change the segment mix, at the gateway.

A shift given in training sigmas becomes an absolute shift here: σ from the reference the
model server publishes in its metadata when it does, else from the values the load's payload
carries (its dataset, or its ready request bodies read through the service's protocol). A
``scale`` or an absolute ``add`` needs no σ. A mix uses
the experiment's ``categories`` of a categorical feature, or the bands the service file gives
each segment. The gateway stays model-agnostic.
"""

from __future__ import annotations

import statistics
from typing import Any

from mlchaos.errors import TargetError, ValidationFailed
from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.gateway.contract import Lease, RequestFault
from mlchaos.load.payload import read_bodies, read_payload
from mlchaos.observe.model import ModelEndpoint
from mlchaos.protocols import Column, Unreadable
from mlchaos.schema.experiment import DataDriftFault
from mlchaos.service import Service

__all__ = ["FAULT", "OnRequest", "misfits", "params", "payload_features", "payload_values"]


def params(service: Service, fault: DataDriftFault) -> dict[str, Any]:
    if fault.mix:
        return _mix(service, fault)
    assert fault.feature is not None  # the schema requires a feature without a mix
    std = _reference_std(service, fault.feature) if fault.shift else 0.0
    return {
        "feature": fault.feature,
        "shift": fault.shift * std + fault.add,
        "scale": fault.scale,
        "shift_sigma": fault.shift,
    }


def misfits(service: Service, fault: DataDriftFault) -> list[tuple[str, str]]:
    """What makes the fault unable to change anything, known from the files alone: a feature
    the payload never carries, a shift in sigmas of a feature with no numbers to take σ from,
    a mix naming a segment the service file gives no band."""
    if fault.mix:
        return _mix_misfits(service, fault)
    assert fault.feature is not None
    values = payload_values(service, fault.feature)
    if values is None:
        return []  # the payload cannot be read: its own check says why, at its line
    if not values:
        carried = ", ".join(sorted(payload_features(service))) or "none"
        return [("feature", f"the load's payload never carries {fault.feature!r}, so nothing "
                            f"would drift (its requests carry: {carried})")]  # fmt: skip
    numbers = [v for v in values if _numeric(v)]
    feature = repr(fault.feature)
    if not numbers:
        why = "shift, scale and add change numbers; drift a category with a 'mix' of 'categories'"
        return [("feature", f"{feature} is text in the payload: {why}")]
    if fault.shift and len(numbers) < 2:
        why = "give 'add' (in the feature's units) or 'scale', which need none"
        return [("shift", f"a shift in sigmas needs {feature}'s spread, and the payload holds "
                          f"{len(numbers)} number(s) of it: {why}")]  # fmt: skip
    return []


def payload_values(service: Service, feature: str) -> list[Any] | None:
    """Every value of ``feature`` the load sends: from the dataset's rows, or from the ready
    bodies read through the service's protocol. None when the payload cannot be read."""
    spec, path = service.payload, service.payload_file
    if spec is None or path is None:
        return None
    try:
        if spec.file:
            rows = read_payload(path, spec.label)
            return [r.features[feature] for r in rows if feature in r.features]
        codec = spec.codec()
        found: list[Any] = []
        for body in read_bodies(path):
            for column in codec.decode(body):
                if column.name == feature:
                    found += column.values
        return found
    except (ValidationFailed, Unreadable):
        return None


def payload_features(service: Service) -> set[str]:
    """The features the load's payload carries (empty when it cannot be read)."""
    spec, path = service.payload, service.payload_file
    if spec is None or path is None:
        return set()
    try:
        if spec.file:
            return {name for r in read_payload(path, spec.label)[:100] for name in r.features}
        codec = spec.codec()
        return {c.name for body in read_bodies(path)[:100] for c in codec.decode(body)}
    except (ValidationFailed, Unreadable):
        return set()


def _mix_misfits(service: Service, fault: DataDriftFault) -> list[tuple[str, str]]:
    """A mix without its own categories names a segment the service file gives a band."""
    segments = service.segments
    if fault.categories:
        return []
    unknown = [s for s in fault.mix if segments is None or s not in segments.bands]
    if not unknown:
        return []
    known = ", ".join(segments.bands) if segments else "none: add segments to the service file"
    return [("mix", f"the service file's segments name no {unknown[0]!r} (it has {known})")]


def _mix(service: Service, fault: DataDriftFault) -> dict[str, Any]:
    [(segment, share)] = fault.mix.items()
    if fault.categories:
        feature = str(fault.feature)
        values = _as_dataset_has_them(service, feature, fault.categories)
        groups: dict[str, list[Any]] = {
            c: [v] for c, v in zip(fault.categories, values, strict=True)
        }
    else:
        for _, problem in _mix_misfits(service, fault):
            raise TargetError(f"data_drift: {problem}")
        assert service.segments is not None
        groups = {name: list(band) for name, band in service.segments.bands.items()}
        feature = service.segments.feature
    return {"feature": feature, "mix": {"segment": segment, "share": share, "bands": groups}}


def _as_dataset_has_them(service: Service, feature: str, categories: tuple[str, ...]) -> list[Any]:
    """The categories as values of the feature: numbers where the payload dataset holds the
    feature as numbers (a category code in a numeric tensor), else the strings given."""
    try:
        numbers = [float(c) for c in categories]
    except ValueError:
        return list(categories)
    spec = service.payload
    if spec is None or not spec.file or service.payload_file is None:
        return list(categories)
    rows = read_payload(service.payload_file, spec.label)
    seen = [r.features.get(feature) for r in rows[:100]]
    return numbers if seen and all(_numeric(v) for v in seen) else list(categories)


def _reference_std(service: Service, feature: str) -> float:
    """The feature's training σ, as the model server publishes it; else its σ in the
    service's payload dataset, the traffic the load replays."""
    published = _published_stds(service)
    if published is not None and feature in published:
        return published[feature]
    return _dataset_std(service, feature, published)


def _published_stds(service: Service) -> dict[str, float] | None:
    """The reference the model server publishes in its metadata (mlchaos's reference server
    does; most do not): None when there is none."""
    try:
        reference = ModelEndpoint.of(service).metadata()["parameters"]["reference"]
        return dict(zip(reference["features"], map(float, reference["stds"]), strict=True))
    except (TargetError, ValueError, KeyError, TypeError):
        return None


def _dataset_std(service: Service, feature: str, published: dict[str, float] | None) -> float:
    values = [float(v) for v in payload_values(service, feature) or [] if _numeric(v)]
    if len(values) >= 2:
        return statistics.pstdev(values)
    where = "published by the model server" if published else "the model server publishes none"
    raise TargetError(
        f"data_drift: no sigma for {feature!r}: the payload holds {len(values)} number(s) of it "
        f"and no training reference is {where}; give 'add' (in the feature's units) or 'scale'"
    )


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class OnRequest(RequestFault):
    """At the gateway: the feature's values in the selected request shifted and scaled, or
    drawn from the segments' bands so that the segment's share of traffic becomes ``share``."""

    stage = "request"

    def changes_something(self, params: dict[str, Any]) -> bool:
        if _mix_is_whole(params):
            return True
        moved = float(params.get("shift", 0)) != 0 or float(params.get("scale", 1)) != 1
        return bool(params.get("feature")) and moved

    def rewrite(self, lease: Lease, columns: list[Column]) -> list[Column]:
        p = lease.params
        named = [c for c in columns if c.name == str(p["feature"])]
        if p.get("mix"):
            for c in named:
                c.values = [_remixed(lease) for _ in c.values]
            return columns
        shift, scale = float(p.get("shift", 0.0)), float(p.get("scale", 1.0))
        for c in named:
            c.values = [v * scale + shift if _numeric(v) else v for v in c.values]
        return columns


def _mix_is_whole(params: dict[str, Any]) -> bool:
    """A category mix names its feature, and bands that include its segment and another."""
    mix = params.get("mix")
    if not isinstance(mix, dict) or not params.get("feature"):
        return False
    bands = mix.get("bands")
    return isinstance(bands, dict) and mix.get("segment") in bands and len(bands) >= 2


def _remixed(lease: Lease) -> Any:
    """Category mix, one row: the segment's value with probability ``share``, otherwise
    another segment's, so the segment's share of traffic becomes ``share``. A segment is a
    band of numbers (drawn uniformly, rounded) or a list of categories (one drawn)."""
    mix = lease.params["mix"]
    groups = mix["bands"]
    target = str(mix["segment"])
    others = [name for name in groups if name != target]
    if lease.rng.random() < float(mix["share"]):
        group = groups[target]
    else:
        group = groups[others[0] if len(others) == 1 else lease.rng.choice(others)]
    if isinstance(group, list) and len(group) == 2 and all(_numeric(v) for v in group):
        return float(round(lease.rng.uniform(float(group[0]), float(group[1]))))
    return lease.rng.choice(list(group))


FAULT = GatewayFault("data_drift", params, check=misfits, on_request=OnRequest())
