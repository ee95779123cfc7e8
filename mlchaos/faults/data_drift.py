"""``data_drift``: shift or scale one feature, or change the segment mix, at the gateway.

A shift given in training sigmas becomes an absolute shift here: σ from the reference the
model server publishes in its metadata when it does, else from the payload dataset. A mix uses
the experiment's ``categories`` of a categorical feature, or the bands the service file gives
each segment. The gateway stays model-agnostic.
"""

from __future__ import annotations

import statistics
from typing import Any

import requests

from mlchaos.errors import TargetError
from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.load.payload import read_payload
from mlchaos.schema.experiment import DataDriftFault
from mlchaos.service import Service

__all__ = ["FAULT", "misfits", "params"]


def params(service: Service, fault: DataDriftFault) -> dict[str, Any]:
    if fault.mix:
        return _mix(service, fault)
    assert fault.feature is not None  # the schema requires a feature without a mix
    std = _reference_std(service, fault.feature)
    return {
        "feature": fault.feature,
        "shift": fault.shift * std,
        "scale": fault.scale,
        "shift_sigma": fault.shift,
    }


def misfits(service: Service, fault: DataDriftFault) -> list[tuple[str, str]]:
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
        for _, problem in misfits(service, fault):
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
        answer = requests.get(f"{service.model_url}/v2/models/{service.model}", timeout=5)
        reference = answer.json()["parameters"]["reference"]
        return dict(zip(reference["features"], map(float, reference["stds"]), strict=True))
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def _dataset_std(service: Service, feature: str, published: dict[str, float] | None) -> float:
    spec = service.payload
    values: list[float] = []
    if spec is not None and spec.file and service.payload_file is not None:
        rows = read_payload(service.payload_file, spec.label)
        values = [float(r.features[feature]) for r in rows if _numeric(r.features.get(feature))]
    if len(values) >= 2:
        return statistics.pstdev(values)
    known = ", ".join(sorted(published or ())) or "no published reference, no dataset column"
    raise TargetError(f"data_drift: the model has no feature {feature!r} (it has {known})")


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


FAULT = GatewayFault("data_drift", params, check=misfits, rewrites_body=True)
