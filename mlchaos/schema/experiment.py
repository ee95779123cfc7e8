"""An experiment: one fault, the steady state it must not break for long, and the targets.

```yaml
version: 1
name: bad-version-inverted
fault: {type: bad_version, model: credit-risk, variant: inverted}
steady_state:
  - {name: error-ratio, query: "...", below: 0.01}
expect:
  detection: {alert: ModelPredictionShift, within: 5s}
  paging: {service: model-oncall, within: 10s}
  acknowledgement: {within: 30s}
  mitigation: {by: rollback, within: 20s}
  recovery: {within: 30s}
```
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlchaos.schema.units import Duration

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)]


class Frozen(BaseModel):
    """Every schema model is immutable and rejects unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


BadVariant = Literal["inverted", "constant", "crashing", "wrong_feature_order", "slow"]


class BadVersionFault(Frozen):
    """Promote a broken artifact to the model's ``production`` alias."""

    type: Literal["bad_version"]
    model: Name = "credit-risk"
    variant: BadVariant = "inverted"
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: the registry reverts the promotion by itself when it runs out."""


Fault = Annotated[BadVersionFault, Field(discriminator="type")]


class Slo(Frozen):
    """A PromQL query whose single value must stay ``below`` or ``above`` a threshold."""

    name: Name
    query: str = Field(min_length=1)
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Slo:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' or 'above'")
        return self

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets this objective."""
        if self.below is not None:
            return value < self.below
        assert self.above is not None
        return value > self.above

    @property
    def condition(self) -> str:
        return f"< {self.below:g}" if self.below is not None else f"> {self.above:g}"


class Detection(Frozen):
    alert: str = Field(min_length=1, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")
    within: Duration = Field(gt=0)


class Paging(Frozen):
    service: Name = "model-oncall"
    within: Duration = Field(gt=0)


class Acknowledgement(Frozen):
    within: Duration = Field(gt=0)


class Mitigation(Frozen):
    by: Literal["rollback"] = "rollback"
    within: Duration = Field(gt=0)


class Recovery(Frozen):
    within: Duration = Field(gt=0)
    stable_for: Duration = Field(default=3.0, ge=0)
    """The SLO must hold this long before the service counts as recovered."""


class Expectations(Frozen):
    detection: Detection
    paging: Paging | None = None
    acknowledgement: Acknowledgement | None = None
    mitigation: Mitigation | None = None
    recovery: Recovery

    def targets(self) -> dict[str, float]:
        """Target seconds by duration name (``mttd``, ``time_to_page``, ``mtta``, ...)."""
        pairs = {
            "mttd": self.detection,
            "time_to_page": self.paging,
            "mtta": self.acknowledgement,
            "mttm": self.mitigation,
            "mttr": self.recovery,
        }
        return {name: exp.within for name, exp in pairs.items() if exp is not None}


class Experiment(Frozen):
    version: Literal[1] = 1
    name: Name
    title: str | None = None
    description: str = ""
    fault: Fault
    steady_state: tuple[Slo, ...] = Field(min_length=1)
    expect: Expectations
    min_traffic_rps: float = Field(default=1.0, ge=0)
    """Below this request rate the service is idle and nothing can be concluded."""
    give_up_after: Duration | None = Field(default=None, gt=0)
    """How long after injection to keep waiting for events; default twice the largest target."""

    @model_validator(mode="after")
    def _acknowledgement_needs_paging(self) -> Experiment:
        if self.expect.acknowledgement is not None and self.expect.paging is None:
            raise ValueError("expect.acknowledgement needs expect.paging: only a page is acked")
        return self

    @property
    def deadline_s(self) -> float:
        """Seconds after injection at which every waiter gives up."""
        if self.give_up_after is not None:
            return self.give_up_after
        return max(30.0, 2 * max(self.expect.targets().values()))
