"""``concept_drift``: the true outcome of a share of requests becomes the opposite one.

The gateway flips the labels posted back for the requests it selected; it is confirmed only
once such labels arrive, after the label lag, so it is given longer to show.
"""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.gateway import GatewayFault
from mlchaos.schema.experiment import ConceptDriftFault
from mlchaos.service import Service

__all__ = ["FAULT", "params"]


def params(service: Service, fault: ConceptDriftFault) -> dict[str, Any]:
    return {}


FAULT = GatewayFault("concept_drift", params, confirm_timeout_s=30.0)
