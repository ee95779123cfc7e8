"""The endpoints of the service under test: where to inject, and where each truth lives.

For the reference stack they derive from its `StackConfig`; a user's own staging stack will
name them in a service file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlchaos.stack.config import StackConfig


class Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    model_url: str
    registry_url: str
    prometheus_url: str
    alertmanager_url: str
    pagerduty_url: str
    pagerduty_ca_file: Path | None = None
    pagerduty_service: str
    rollback_controller_url: str | None = None

    @classmethod
    def from_stack(cls, cfg: StackConfig) -> Service:
        return cls(
            model=cfg.model_name,
            model_url=cfg.url("model-server"),
            registry_url=cfg.url("registry"),
            prometheus_url=cfg.url("prometheus"),
            alertmanager_url=cfg.url("alertmanager"),
            pagerduty_url=cfg.url("pagerduty"),
            pagerduty_ca_file=cfg.tls_dir / "cert.pem",
            pagerduty_service=cfg.pagerduty_service,
            rollback_controller_url=cfg.url("rollback-controller"),
        )
