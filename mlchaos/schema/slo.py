"""Service level objectives and the burn-rate alerting that guards them, as a service file
declares them (the shape OpenSLO and Sloth use):

```yaml
slos:
  - name: availability
    objective: 99.5%             # of requests good, over the period
    period: 30d
    sli:                         # {{window}} is replaced by each window the alerts need
      errors: sum(rate(mlchaos_gateway_requests_total{model="fraud",code=~"5.."}[{{window}}]))
      total: sum(rate(mlchaos_gateway_requests_total{model="fraud"}[{{window}}]))
    alerting:
      profile: workbook          # or page-3x-escalate-6x, 4x-for-1h, or tiers of your own
      time_scale: 0.01           # staging compresses time: every window and the period x0.01
```

`mlchaos rules --service FILE` writes the recording rules and the multiwindow, multi-burn-rate
alerts (`mlchaos.burnrate`), and `--tests DIR` their `promtool test rules` unit tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlchaos.schema.experiment import Frozen, Name
from mlchaos.schema.units import Duration, Period, Share

__all__ = ["PROFILES", "WINDOW", "BurnTier", "Sli", "SloAlerting", "SloSpec"]

WINDOW = "{{window}}"
"""Where an SLI's queries take each window (``rate(x[{{window}}])``)."""


class Sli(Frozen):
    """The service level indicator as two PromQL queries over a window: bad events and all."""

    errors: str = Field(min_length=1)
    """The rate of bad events over ``{{window}}`` (a 5xx, a request slower than the objective)."""
    total: str = Field(min_length=1)
    """The rate of all events over ``{{window}}``."""

    @model_validator(mode="after")
    def _windowed(self) -> Sli:
        for name in ("errors", "total"):
            if WINDOW not in getattr(self, name):
                raise ValueError(f"'{name}' must take the window as {WINDOW} (rate(x[{WINDOW}]))")
        return self


class BurnTier(Frozen):
    """One tier of a multiwindow, multi-burn-rate alert: it fires while the budget burns
    ``factor`` times faster than the period allows, over both the long and the short window
    (the short one makes it stop soon after the burn does)."""

    name: Name
    """``page``, ``ticket``, ``escalate``: part of the alert's name and its ``burn_tier`` label."""
    factor: float = Field(gt=0, le=10000, allow_inf_nan=False)
    long: Period
    short: Period
    severity: Literal["critical", "warning", "info"] = "critical"
    for_: Duration = Field(default=0.0, alias="for", ge=0, le=86400)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnTier:
        if self.short >= self.long:
            raise ValueError("'short' must be shorter than 'long'")
        return self


def _tier(name: str, factor: float, long: float, short: float, severity: str) -> BurnTier:
    return BurnTier.model_validate(
        {"name": name, "factor": factor, "long": long, "short": short, "severity": severity}
    )


_H, _M, _D = 3600.0, 60.0, 86400.0
PROFILES: dict[str, tuple[BurnTier, ...]] = {
    # The SRE workbook's: 2% of a 30-day budget in an hour pages, 5% in six hours pages,
    # 10% in three days opens a ticket.
    "workbook": (
        _tier("page", 14.4, 1 * _H, 5 * _M, "critical"),
        _tier("page-slow", 6, 6 * _H, 30 * _M, "critical"),
        _tier("ticket", 1, 3 * _D, 6 * _H, "warning"),
    ),
    # "Alert when the burn rate is over 3x, escalate at 6x."
    "page-3x-escalate-6x": (
        _tier("page", 3, 1 * _H, 5 * _M, "warning"),
        _tier("escalate", 6, 1 * _H, 5 * _M, "critical"),
    ),
    # "Page if the burn rate is over 4x, sustained for an hour."
    "4x-for-1h": (_tier("page", 4, 1 * _H, 5 * _M, "critical"),),
}
"""Built-in burn-rate profiles, by the name a service file's ``alerting.profile`` gives."""


class SloAlerting(Frozen):
    profile: Name | None = None
    """A built-in profile (`mlchaos.burnrate.PROFILES`); default ``workbook``, unless you give
    ``tiers``."""
    tiers: tuple[BurnTier, ...] = ()
    """Your own tiers, instead of a profile's."""
    time_scale: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False)
    """Every window and the period multiplied by this: a staging game day sees the same
    arithmetic in minutes instead of hours (``0.01``: a 1 h window is 36 s). Reports say so."""

    @model_validator(mode="after")
    def _profile_or_tiers(self) -> SloAlerting:
        if self.tiers and self.profile is not None:
            raise ValueError("give a 'profile' or your own 'tiers', not both")
        if self.profile is not None and self.profile not in PROFILES:
            known = ", ".join(PROFILES)
            raise ValueError(f"no burn-rate profile {self.profile!r} (there are: {known})")
        return self


class SloSpec(Frozen):
    name: Name
    objective: Share
    """The share of events that must be good over the period: ``99.5%``."""
    period: Period = 30 * 86400.0
    sli: Sli
    alerting: SloAlerting = SloAlerting()

    @model_validator(mode="after")
    def _attainable(self) -> SloSpec:
        if self.objective >= 1:
            raise ValueError("an objective of 100% leaves no error budget to burn")
        return self

    @property
    def budget(self) -> float:
        """The error budget: the share of events allowed to be bad."""
        return 1 - self.objective
