"""A game day: experiments in order (or a seeded draw of them), the load during them, default
targets, and who responds to pages.

```yaml
version: 1
name: wheel-of-misfortune
experiments: [../experiments/bad-version.yaml, ../experiments/data-drift.yaml]
draw: {count: 1, seed: 7}          # optional: pick at random, reproducibly
defaults:                          # targets for experiments that do not set their own
  acknowledgement: {within: 5m}
load: {users: 50, rate: 500, ramp_up: 5s, workers: 2}   # workers: Locust processes
responders: {mode: human}
cool_down: 10s
```

Several services in one game day (each runs as its own game day; one report groups them):

```yaml
experiments:
  - ../experiments/bad-version.yaml                       # the game day's own service
  - {file: ../../fraud/experiments/latency.yaml, service: ../../fraud/service.yaml}
parallel: true                     # at the same time; refused if they share a target
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlchaos.schema.experiment import Acknowledgement, Frozen, Name, Paging, Recovery
from mlchaos.schema.units import Duration, Share

__all__ = ["MASTER_PATTERN", "Defaults", "Draw", "Entry", "Load", "Responders", "Scenario"]


MASTER_PATTERN = r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$"
"""``host:port`` (an IPv6 host in brackets)."""


class Load(Frozen):
    """Locust traffic held for the whole game day."""

    users: int = Field(default=10, ge=1, le=1000)
    rate: float = Field(default=100.0, gt=0, le=100_000, allow_inf_nan=False)
    """Total requests per second across all users."""
    ramp_up: Duration = Field(default=5.0, ge=0, le=3600)
    """How long to hold the load, once the service counts 90% of ``rate``, before the first
    steady-state check."""
    label_lag: Duration = Field(default=5.0, ge=0, le=3600)
    """How long after a prediction its true outcome (the label) is posted back."""
    labelled: Share = 0.2
    """The share of requests whose outcome is ever known."""
    workers: int = Field(default=0, ge=0, le=64)
    """Locust worker processes on this machine under a master (one core each); 0 sends the
    load from one Locust process. The users are spread over them; the stats are combined."""
    remote_workers: int = Field(default=0, ge=0, le=1000)
    """Workers started on other machines (``locust --worker -f - --master-host HOST
    --master-port PORT``): the load starts once they and ``workers`` are connected, and the
    game day stops with a clear error when they are not within ``connect_within``."""
    master: str | None = Field(default=None, json_schema_extra={"pattern": MASTER_PATTERN})
    """``host:port`` the Locust master listens on; by default 127.0.0.1 and a free port.
    Remote workers need one they can reach, e.g. ``0.0.0.0:5557``."""
    connect_within: Duration = Field(default=60.0, gt=0, le=3600)
    """How long the master waits for its workers before the game day gives up."""

    @field_validator("master")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(MASTER_PATTERN, value):
            raise ValueError(f"expected host:port, e.g. 0.0.0.0:5557, got {value!r}")
        return value

    @model_validator(mode="after")
    def _remote_workers_need_an_address(self) -> Load:
        if self.remote_workers and self.master is None:
            raise ValueError(
                "remote_workers need master: a host:port they can reach, e.g. 0.0.0.0:5557"
            )
        return self


class Responders(Frozen):
    """``automated`` acknowledges pages after ``ack_delay``; ``human`` leaves it to people."""

    mode: Literal["automated", "human"] = "automated"
    ack_delay: Duration = Field(default=2.0, ge=0, le=3600)


class Draw(Frozen):
    """The wheel of misfortune: ``count`` experiments drawn at random from the list.

    The seed is recorded in the results, so a draw can be replayed; without one, a seed is
    chosen and reported.
    """

    count: int = Field(ge=1)
    seed: int | None = None


class Defaults(Frozen):
    """Targets an experiment gets when its own ``expect`` leaves them out."""

    paging: Paging | None = None
    acknowledgement: Acknowledgement | None = None
    recovery: Recovery | None = None


class Entry(Frozen):
    """An experiment against a service of its own: ``{file: ..., service: ...}``."""

    file: str = Field(min_length=1, max_length=1000)
    """The experiment file, relative to the scenario file."""
    service: str | None = Field(default=None, min_length=1, max_length=1000)
    """The service file it runs against, relative to the scenario file; absent: the game
    day's own (``--service``, else the reference stack)."""


class Scenario(Frozen):
    version: Literal[1] = 1
    name: Name
    description: str = ""
    experiments: tuple[str | Entry, ...] = Field(min_length=1)
    """Experiment files, relative to the scenario file; an entry ``{file, service}`` runs
    against another service file. Each service's experiments run as a game day of their own
    (its own load, responders and reports, in this order), then one report groups them."""
    parallel: bool = False
    """Run the services' game days at the same time, not one after another. Refused when
    two services share a target: the gateway, the model server, the registry's model, the
    pager's service, a dependency or a process."""
    draw: Draw | None = None
    defaults: Defaults = Defaults()
    load: Load = Load()
    responders: Responders = Responders()
    cool_down: Duration = Field(default=10.0, ge=0, le=3600)
    """Longest wait for the steady state to return between experiments."""
    history: str | None = Field(default=None, min_length=1, max_length=1000)
    """The run history (SQLite) each game day is appended to, relative to the scenario file;
    ``--history`` overrides it. Default: ``history.sqlite`` in the report directory."""

    def entries(self) -> list[Entry]:
        """Every experiment as an `Entry` (a plain file: the game day's own service)."""
        return [e if isinstance(e, Entry) else Entry(file=e) for e in self.experiments]

    @property
    def many_services(self) -> bool:
        """Whether an entry names a service file of its own."""
        return any(e.service is not None for e in self.entries())
