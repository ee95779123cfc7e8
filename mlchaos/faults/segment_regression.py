"""``segment_regression``: promote a version worse on one segment only, by the name the
service file's ``versions.segment`` gives it: aggregate metrics stay fine while a fairness
gap opens for that group."""

from __future__ import annotations

from mlchaos.faults.targets.registry import RegistryFault, lookup
from mlchaos.schema.experiment import SegmentRegressionFault
from mlchaos.service import Service

__all__ = ["FAULT", "version_of"]


def version_of(fault: SegmentRegressionFault, service: Service) -> str:
    return lookup(fault.type, "segment", fault.segment, service.versions.segment)


FAULT = RegistryFault("segment_regression", version_of, "segment")
