"""The service under test, resolved from a service file: where to inject, where each truth
lives, and the facts about its model that faults and load need (segments, versions, payload).

Every stack is described the same way: a user's staging by the file they pass with
``--service``, the reference stack by the file `mlchaos up` writes (`mlchaos.reference.service`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from mlchaos.access import Access
from mlchaos.protocols import Codec
from mlchaos.schema.experiment import Slo
from mlchaos.schema.service import (
    Adapters,
    Dependency,
    Endpoint,
    Hook,
    PagerDutyRest,
    Payload,
    Pipeline,
    Privacy,
    Rollout,
    Segments,
    ServiceFile,
    ServiceProcess,
    Training,
    Versions,
)
from mlchaos.schema.slo import SloSpec

__all__ = ["Service"]


class Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    name: str = ""
    """The service file's ``name``: what results and the run history group by."""
    environment: str = "staging"
    model_url: str
    """Where clients call the model: through the chaos gateway."""
    gateway_url: str
    registry_url: str | None = None
    prometheus_url: str
    prometheus_access: Access = Access()
    alertmanager_url: str
    alertmanager_access: Access = Access()
    pagerduty_url: str = ""
    """Empty when the service has no pager (`has_pager`)."""
    pagerduty_ca_file: Path | None = None
    pagerduty_service: str = ""
    pagerduty_rest: PagerDutyRest | None = None
    """PagerDuty's REST API, where page and ack times are read when given."""
    rollback_hook: Hook | None = None
    """What the automated responder runs for ``action: rollback`` alerts, if anything."""
    fallback_hook: Hook | None = None
    """The team's switch to its fallback, for a runbook's ``action: fallback``."""
    deploy_hook: Hook | None = None
    """The team's deploy step, run after the registry's alias moves; None: the server follows
    the alias by itself."""
    rollout: Rollout | None = None
    """The team's progressive rollout, for canary experiments."""
    hook_dir: Path | None = None
    """Where hook commands run: the service file's folder."""
    routing_key_env: str | None = None
    routing_key_file: Path | None = None
    """Where the PagerDuty routing key is, for acknowledging: a file, else the environment."""
    expected_production: str | None = None
    """The version production should be on before a game day; None when not known."""
    traffic_query: str
    """PromQL for the request rate clients see."""
    payload: Payload | None = None
    """What the load sends, and how requests carry features (the protocol)."""
    payload_file: Path | None = None
    """The payload's dataset or bodies file, resolved against the service file's folder."""
    segments: Segments | None = None
    versions: Versions = Versions()
    adapters: Adapters = Adapters()
    stop_conditions: tuple[Slo, ...] = ()
    """Guards for every experiment: breached, the fault is reverted at once."""
    pipeline: Pipeline | None = None
    """Intervals declared for when the live configuration cannot be read."""
    slos: tuple[SloSpec, ...] = ()
    """Service level objectives with their burn-rate alerting (`mlchaos.burnrate`)."""
    dependencies: dict[str, Dependency] = {}
    """What the model server depends on (a feature store's online store), by name; their
    relative files resolve against ``hook_dir``."""
    processes: dict[str, ServiceProcess] = {}
    """The service's processes on this machine (its model server), by name."""
    privacy: Privacy | None = None
    """Where requests carry personal data and where data lands (``pii_canary``); relative
    file patterns resolve against ``hook_dir``."""
    training: Training | None = None
    """The team's retrain pipeline and its approval gate (``poisoned_data``); its snapshot
    resolves against ``hook_dir``."""

    @property
    def has_pager(self) -> bool:
        return bool(self.pagerduty_url)

    def codec(self) -> Codec:
        """How this service's requests carry features."""
        return self.payload.codec() if self.payload else Codec()

    def traffic(self) -> str:
        return self.traffic_query

    def traffic_slo(self, min_rps: float) -> Slo:
        """Traffic must flow, or nothing the SLOs say means anything."""
        return Slo(name="traffic", query=self.traffic_query, above=min_rps)

    def routing_key(self) -> str:
        """The routing key, read now and kept by the caller in memory only; "" if none."""
        if self.routing_key_file is not None:
            try:
                return self.routing_key_file.read_text().strip()
            except OSError:
                return ""
        return os.environ.get(self.routing_key_env or "", "")

    def targets(self) -> set[str]:
        """What a game day on this service changes or reads as its own, each named so that
        two game days at once can be refused when they share one: the gateway, the model
        endpoint, the registry's model, the pager's service, each dependency, process and
        training snapshot."""
        found = {f"the gateway at {_address(self.gateway_url)}",
                 f"the model endpoint at {_address(self.model_url)}"}  # fmt: skip
        if self.registry_url:
            found.add(f"model {self.model} in the registry at {_address(self.registry_url)}")
        if self.has_pager:
            found.add(f"pager service {self.pagerduty_service} at {_address(self.pagerduty_url)}")
        found |= {f"the dependency at {_address(d.url)}" for d in self.dependencies.values()}
        found |= {f"processes matching {p.match!r}" for p in self.processes.values()}
        if self.training is not None:
            found.add(f"the training snapshot {(self.hook_dir or Path()) / self.training.snapshot}")
        return found

    @property
    def routing_key_source(self) -> str:
        """Where the key is looked for, for messages (never the key itself)."""
        if self.routing_key_file is not None:
            return str(self.routing_key_file)
        return f"${self.routing_key_env}"

    @classmethod
    def from_file(cls, document: ServiceFile, base: Path) -> Service:
        """The service a validated service file names; ``base`` resolves relative paths."""
        pd = document.pagerduty

        def path(name: str | None) -> Path | None:
            return (base / name) if name else None

        def access(endpoint: Endpoint) -> Access:
            basic = endpoint.basic_auth
            return Access(
                username=basic.username if basic else None,
                password_env=basic.password_env if basic else None,
                bearer_token_env=endpoint.bearer_token_env,
                **{name: str(base / value) for name, value in (
                    ("ca_file", endpoint.ca_file), ("cert_file", endpoint.cert_file),
                    ("key_file", endpoint.key_file)) if value},
            )  # fmt: skip

        return cls(
            model=document.model,
            name=document.name,
            environment=document.environment,
            model_url=document.endpoints.gateway,
            gateway_url=document.endpoints.gateway,
            registry_url=document.endpoints.registry,
            prometheus_url=document.endpoints.prometheus.url,
            prometheus_access=access(document.endpoints.prometheus),
            alertmanager_url=document.endpoints.alertmanager.url,
            alertmanager_access=access(document.endpoints.alertmanager),
            pagerduty_url=pd.url if pd else "",
            pagerduty_ca_file=path(pd.ca_file) if pd else None,
            pagerduty_service=pd.service if pd else "",
            pagerduty_rest=pd.rest if pd else None,
            rollback_hook=document.rollback,
            fallback_hook=document.fallback,
            deploy_hook=document.deploy,
            rollout=document.rollout,
            hook_dir=base,
            routing_key_env=pd.routing_key_env if pd else None,
            routing_key_file=path(pd.routing_key_file) if pd else None,
            traffic_query=document.traffic_query,
            expected_production=document.production_version,
            payload=document.payload,
            payload_file=path(document.payload.file or document.payload.bodies)
            if document.payload
            else None,
            segments=document.segments,
            versions=document.versions,
            adapters=document.adapters
            if pd is None or pd.rest is None or "pager" in document.adapters.model_fields_set
            else document.adapters.model_copy(update={"pager": "rest"}),
            stop_conditions=document.stop_conditions,
            pipeline=document.pipeline,
            slos=document.slos,
            dependencies=document.dependencies,
            processes=document.processes,
            privacy=document.privacy,
            training=document.training,
        )


def _address(url: str) -> str:
    """``host:port`` of a URL, the same for every spelling of this machine and default port."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host in ("localhost", "::1", "0.0.0.0") else host
    default = {"https": 443, "rediss": 6379, "redis": 6379}.get(parts.scheme, 80)
    return f"{host}:{parts.port or default}"
