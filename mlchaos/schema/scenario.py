"""A game day: experiments in order, the load during them, and who responds to pages.

```yaml
version: 1
name: nightly
experiments: [../experiments/bad-version.yaml]
load: {users: 10, rate: 100, ramp_up: 5s}
responders: {mode: automated, ack_delay: 2s}
cool_down: 10s
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlchaos.schema.experiment import Frozen, Name
from mlchaos.schema.units import Duration, Share


class Load(Frozen):
    """Locust traffic held for the whole game day."""

    users: int = Field(default=10, ge=1, le=1000)
    rate: float = Field(default=100.0, gt=0)
    """Total requests per second across all users."""
    ramp_up: Duration = Field(default=5.0, ge=0)
    label_lag: Duration = Field(default=5.0, ge=0)
    """How long after a prediction its true outcome (the label) is posted back."""
    labelled: Share = 0.2
    """The share of requests whose outcome is ever known."""


class Responders(Frozen):
    """``automated`` acknowledges pages after ``ack_delay``; ``human`` leaves it to people."""

    mode: Literal["automated", "human"] = "automated"
    ack_delay: Duration = Field(default=2.0, ge=0)


class Scenario(Frozen):
    version: Literal[1] = 1
    name: Name
    description: str = ""
    experiments: tuple[str, ...] = Field(min_length=1)
    """Experiment files, relative to the scenario file."""
    load: Load = Load()
    responders: Responders = Responders()
    cool_down: Duration = Field(default=10.0, ge=0)
    """Longest wait for the steady state to return between experiments."""
