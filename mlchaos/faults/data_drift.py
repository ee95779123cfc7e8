"""``data_drift``: shift or scale one feature, or change the segment mix, at the gateway.

A shift given in training sigmas becomes an absolute shift here, from the reference the
model server publishes in its metadata; a mix uses the bands the service file gives each
segment. The gateway stays model-agnostic.
"""

from __future__ import annotations

from typing import Any

import requests

from mlchaos.errors import TargetError
from mlchaos.faults.targets.gateway import GatewayFault
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
    """A mix names a segment the service file's ``segments`` gives a band."""
    segments = service.segments
    unknown = [s for s in fault.mix if segments is None or s not in segments.bands]
    if not unknown:
        return []
    known = ", ".join(segments.bands) if segments else "none: add segments to the service file"
    return [("mix", f"the service file's segments name no {unknown[0]!r} (it has {known})")]


def _mix(service: Service, fault: DataDriftFault) -> dict[str, Any]:
    [(segment, share)] = fault.mix.items()
    segments = service.segments
    for _, problem in misfits(service, fault):
        raise TargetError(f"data_drift: {problem}")
    assert segments is not None
    bands = {name: list(band) for name, band in segments.bands.items()}
    mix = {"segment": segment, "share": share, "bands": bands}
    return {"feature": segments.feature, "mix": mix}


def _reference_std(service: Service, feature: str) -> float:
    url = f"{service.model_url}/v2/models/{service.model}"
    reference = requests.get(url, timeout=5).json()["parameters"]["reference"]
    if feature not in reference["features"]:
        known = ", ".join(reference["features"])
        raise TargetError(f"data_drift: the model has no feature {feature!r} (it has {known})")
    return float(reference["stds"][reference["features"].index(feature)])


FAULT = GatewayFault("data_drift", params, check=misfits)
