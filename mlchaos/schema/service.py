"""A service file: where a user's own staging service lives, for `--service FILE`.

```yaml
version: 1
name: fraud-scorer
model: fraud                         # the model's name in Open Inference Protocol paths
endpoints:
  gateway: http://127.0.0.1:28000    # `mlchaos gateway --upstream YOUR_MODEL` in front of it
  prometheus: http://127.0.0.1:29090
  alertmanager: http://127.0.0.1:29093
pagerduty:
  url: https://events.pagerduty.com  # or your receiver; events go to URL/v2/enqueue
  service: fraud-oncall
  routing_key_env: FRAUD_PD_ROUTING_KEY   # the key stays in the environment, never in files
traffic_query: sum(rate(http_requests_total{app="fraud"}[1m]))
rollback:                            # what the automated responder runs for action=rollback
  http: {url: "http://127.0.0.1:28500/rollback", method: POST}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlchaos.schema.experiment import Frozen, Name
from mlchaos.schema.units import HttpsUrl, Url


class Endpoints(Frozen):
    gateway: Url
    prometheus: Url
    alertmanager: Url
    registry: Url | None = None
    """Only for ``bad_version`` faults, which promote through an mlchaos-style registry."""


class PagerDutyTarget(Frozen):
    url: HttpsUrl = "https://events.pagerduty.com"
    service: Name
    routing_key_env: str = Field(
        default="MLCHAOS_PAGERDUTY_ROUTING_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$"
    )
    ca_file: str | None = None
    """A CA bundle to trust, relative to the service file; for a self-signed receiver."""


class HttpHook(Frozen):
    url: Url
    method: Literal["POST", "PUT", "PATCH"] = "POST"


class RollbackHook(Frozen):
    """Exactly one way to roll back: an HTTP call or a command."""

    http: HttpHook | None = None
    command: tuple[str, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> RollbackHook:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of 'http' or 'command'")
        return self


class ServiceFile(Frozen):
    version: Literal[1] = 1
    name: Name
    model: Name
    endpoints: Endpoints
    pagerduty: PagerDutyTarget
    traffic_query: str = Field(min_length=1)
    rollback: RollbackHook | None = None
    production_version: str | None = Field(default=None, min_length=1, max_length=200)
    """The version production should serve before a game day; a game day on another one
    cannot pass (it would measure the wrong service)."""
