"""What a runbook template declares in its ``{% set runbook | runbook %}`` YAML block.

```yaml
title: A bad model version is serving
severity: critical
alerts: [ModelPredictionShift]
steps:
  - name: See which version serves
    automated: true          # game days run it, so they test the runbook itself
    run: curl -fsS http://127.0.0.1:18000/v2/models/credit-risk
  - name: Route to the fallback
    action: fallback         # or an mlchaos action: fallback | retrain | rollback
verification:
  - {what: The version changed, run: curl -fsS ...}
escalation: [Page the model owner]
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlchaos.schema.experiment import Frozen
from mlchaos.schema.units import Duration

__all__ = ["Action", "Check", "RunbookSpec", "Step"]

Action = Literal["fallback", "retrain", "rollback"]
"""mlchaos actions: route to the fallback model, request a retrain, run the rollback hook."""


class Step(Frozen):
    name: str = Field(min_length=1)
    run: str | None = None
    """A shell command, run with bash and ``set -euo pipefail``; exactly what on-call types."""
    action: Action | None = None
    automated: bool = False
    """Game days' automated responder runs the automated steps, in order."""
    why: str = ""
    timeout: Duration = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_way(self) -> Step:
        if (self.run is None) == (self.action is None):
            raise ValueError("give exactly one of 'run' or 'action'")
        return self


class Check(Frozen):
    what: str = Field(min_length=1)
    run: str = Field(min_length=1)


class RunbookSpec(Frozen):
    title: str = Field(min_length=1)
    severity: Literal["critical", "warning", "info"] = "critical"
    alerts: tuple[str, ...] = Field(min_length=1)
    """The alert rules (names without any prefix) whose pages this runbook answers."""
    steps: tuple[Step, ...] = Field(min_length=1)
    verification: tuple[Check, ...] = ()
    escalation: tuple[str, ...] = ()
