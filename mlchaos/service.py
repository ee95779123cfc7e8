"""The endpoints of the service under test: where to inject, and where each truth lives.

For the reference stack they derive from its `StackConfig`; a user's own staging stack names
them in a service file (`mlchaos.schema.service`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlchaos.reference.config import StackConfig
from mlchaos.schema.service import RollbackHook, ServiceFile


class Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    model_url: str
    """Where clients call the model: through the chaos gateway."""
    gateway_url: str
    registry_url: str | None = None
    prometheus_url: str
    alertmanager_url: str
    pagerduty_url: str
    pagerduty_ca_file: Path | None = None
    pagerduty_service: str
    rollback_controller_url: str | None = None
    rollback_hook: RollbackHook | None = None
    """What the automated responder runs for ``action: rollback`` alerts, if anything."""
    routing_key_env: str | None = None
    """Where the PagerDuty routing key is, for acknowledging; None for the reference stack."""
    expected_production: str | None = None
    """The version production should be on before a game day; None when not known."""
    traffic_query: str = ""
    """PromQL for the request rate clients see; empty means the reference stack's edge metric."""

    def traffic(self) -> str:
        return self.traffic_query or (
            f'sum(rate(mlchaos_gateway_requests_total{{model="{self.model}"}}[5s]))'
        )

    @classmethod
    def from_file(cls, document: ServiceFile, base: Path) -> Service:
        """The service a validated service file names; ``base`` resolves relative paths."""
        pd = document.pagerduty
        return cls(
            model=document.model,
            model_url=document.endpoints.gateway,
            gateway_url=document.endpoints.gateway,
            registry_url=document.endpoints.registry,
            prometheus_url=document.endpoints.prometheus,
            alertmanager_url=document.endpoints.alertmanager,
            pagerduty_url=pd.url,
            pagerduty_ca_file=(base / pd.ca_file) if pd.ca_file else None,
            pagerduty_service=pd.service,
            rollback_hook=document.rollback,
            routing_key_env=pd.routing_key_env,
            traffic_query=document.traffic_query,
            expected_production=document.production_version,
        )

    @classmethod
    def from_stack(cls, cfg: StackConfig) -> Service:
        return cls(
            model=cfg.model_name,
            model_url=cfg.url("gateway"),
            gateway_url=cfg.url("gateway"),
            registry_url=cfg.url("registry"),
            prometheus_url=cfg.url("prometheus"),
            alertmanager_url=cfg.url("alertmanager"),
            pagerduty_url=cfg.url("pagerduty"),
            pagerduty_ca_file=cfg.tls_dir / "cert.pem",
            pagerduty_service=cfg.pagerduty_service,
            rollback_controller_url=cfg.url("rollback-controller"),
            expected_production=cfg.production_version,
        )
