"""One typed interface per kind of outside system, and the implementation the service file
chooses for it (``adapters:``; each implementation in its own module):

- metrics, `Metrics`: ``prometheus`` (`mlchaos.observe.prometheus`);
- pager, `Pager`: ``receiver``, an Events API receiver's ``/incidents``
  (`mlchaos.observe.pagerduty`); ``rest``, PagerDuty's REST API v2
  (`mlchaos.observe.pagerduty_rest`);
- registry, `ModelRegistry`: ``mlchaos``, the registry HTTP API (`mlchaos.observe.registry`);
  ``mlflow``, an MLflow registry's aliases (`mlchaos.observe.mlflow`);
- traffic, `TrafficFaults`: ``gateway``, the chaos gateway (`mlchaos.observe.gateway`);
- load, `LoadGenerator`: ``locust`` (`mlchaos.load.runner`), replaying the service file's
  payload.

Kubernetes is a place a bad version goes, chosen per fault (``kubernetes:``), in
`mlchaos.faults.targets.kubernetes`. Alertmanager is read only for its routing's
``group_wait`` (`mlchaos.observe.alertmanager`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from mlchaos.access import Access
from mlchaos.errors import InputError, TargetError
from mlchaos.load.payload import prepare
from mlchaos.load.runner import LoadStats, Locust
from mlchaos.observe.gateway import GatewayClient
from mlchaos.observe.mlflow import MlflowRegistry
from mlchaos.observe.pagerduty import Incidents, events_client
from mlchaos.observe.pagerduty_rest import PagerDutyRest
from mlchaos.observe.prometheus import Prometheus
from mlchaos.observe.registry import RegistryClient
from mlchaos.schema import Load
from mlchaos.schema.service import PagerDutyRest as PagerDutyRestSpec
from mlchaos.service import Service

__all__ = [
    "LoadGenerator",
    "Metrics",
    "ModelRegistry",
    "Pager",
    "TrafficFaults",
    "acknowledger",
    "load",
    "metrics",
    "metrics_at",
    "pager",
    "pager_at",
    "registry",
    "registry_at",
    "traffic",
    "traffic_at",
]


class LoadGenerator(Protocol):
    """Client traffic for the whole game day, replaying the service file's payload."""

    stats: LoadStats | None

    def __enter__(self) -> LoadGenerator: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def stop(self, grace_s: float = 15.0) -> LoadStats | None: ...


class Metrics(Protocol):
    """Where SLIs and alerts are read. `ObservationError` when it cannot be read."""

    def values(self, query: str) -> list[float]: ...

    def range_values(
        self, query: str, start: datetime, end: datetime, step_s: float
    ) -> dict[float, list[float]]: ...

    def sample_times(self, selector: str, since: datetime) -> list[float]: ...

    def alerts(self) -> list[dict[str, Any]]: ...

    def alert_rules(self) -> dict[str, float]: ...

    def alerting_rules(self) -> list[dict[str, Any]]: ...

    def metric_names(self) -> list[str]: ...

    def label_values(self, since: datetime) -> dict[str, list[str]]: ...

    def intervals(self, alert: str | None = None) -> tuple[float, float]: ...


class Pager(Protocol):
    """Where pages are read back: incidents on a service, with their trigger, ack and
    resolve times, as PagerDuty's incidents carry them. ``source`` names it in results."""

    source: str

    def since(self, service: str, when: datetime) -> list[dict[str, Any]]: ...


class ModelRegistry(Protocol):
    """Which version serves, who moved it and when, and leases on promotions."""

    def model(self, name: str) -> dict[str, Any]: ...

    def promote(
        self, name: str, version: str, actor: str, reason: str, lease_ttl_s: float | None = None
    ) -> dict[str, Any]: ...

    def rollback(
        self, name: str, actor: str, reason: str, from_version: str | None
    ) -> dict[str, Any]: ...

    def release(self, lease_id: str, actor: str) -> dict[str, Any] | None: ...

    def restore(self, name: str, version: str, actor: str, reason: str) -> list[dict[str, Any]]: ...

    def request_retrain(self, name: str, actor: str, reason: str) -> dict[str, Any]: ...

    def leases(self) -> list[dict[str, Any]]: ...

    def audit(self, name: str) -> list[dict[str, Any]]: ...


class TrafficFaults(Protocol):
    """Where traffic faults are applied under leases, and what is served is counted."""

    def inject(
        self, kind: str, params: dict[str, Any], share: float, seed: int, ttl_s: float, holder: str
    ) -> dict[str, Any]: ...

    def faults(self) -> list[dict[str, Any]]: ...

    def end(self, lease_id: str, actor: str) -> dict[str, Any] | None: ...

    def audit(self) -> list[dict[str, Any]]: ...

    def outcomes(self, since: float) -> tuple[list[tuple[int, int, int]], float]: ...

    def versions(self, since: float) -> list[tuple[int, str, int]]: ...

    def version_times(self, since: float) -> dict[tuple[int, str], tuple[float, float]]: ...

    def first_answer(self, version: str, since: float) -> float | None: ...

    def codes(self, since: float) -> dict[int, int]: ...


_LOADS: dict[str, Callable[[Load, str, str, Path, Path, str, str | None], LoadGenerator]] = {
    "locust": Locust
}
_METRICS: dict[str, Callable[[str, Access | None], Metrics]] = {"prometheus": Prometheus}
_PAGERS: dict[str, Callable[[str, Path | None, PagerDutyRestSpec | None, str], Pager]] = {
    "receiver": lambda url, ca_file, _rest, _service: Incidents(url, ca_file),
    "rest": lambda _url, ca_file, rest, service: PagerDutyRest(_needs(rest), ca_file, service),
}
_REGISTRIES: dict[str, Callable[[str, str], ModelRegistry]] = {
    "mlchaos": lambda url, _alias: RegistryClient(url),
    "mlflow": MlflowRegistry,
}
_TRAFFIC: dict[str, Callable[[str], TrafficFaults]] = {"gateway": GatewayClient}


def metrics_at(url: str, kind: str = "prometheus", access: Access | None = None) -> Metrics:
    return _METRICS[kind](url, access)


def pager_at(
    url: str,
    ca_file: Path | None,
    kind: str = "receiver",
    rest: PagerDutyRestSpec | None = None,
    service: str = "",
) -> Pager:
    """The pager ``kind`` names: ``url`` is the Events API receiver's, ``rest`` the REST API's
    settings (with ``service``, the service they name by id)."""
    return _PAGERS[kind](url, ca_file, rest, service)


def _needs(rest: PagerDutyRestSpec | None) -> PagerDutyRestSpec:
    if rest is None:
        raise InputError("adapters.pager is rest: set pagerduty.rest in the service file")
    return rest


def registry_at(url: str, kind: str = "mlchaos", alias: str = "champion") -> ModelRegistry:
    return _REGISTRIES[kind](url, alias)


def traffic_at(url: str, kind: str = "gateway") -> TrafficFaults:
    return _TRAFFIC[kind](url)


def load(service: Service, traffic: Load, out_dir: Path) -> LoadGenerator:
    """The load generator the service file names, sending to the model through the gateway
    the requests its payload makes (written to ``out_dir/payload.jsonl`` first). `InputError`
    when there is no payload, `ValidationFailed` (``file:line``) when it is malformed."""
    spec = service.payload
    if spec is None or service.payload_file is None:
        raise InputError("the service file names no payload: the load has nothing to send")
    requests = prepare(
        spec.codec(), out_dir / "payload.jsonl",
        dataset=service.payload_file if spec.file else None,
        bodies=service.payload_file if spec.bodies else None,
        label=spec.label,
    )  # fmt: skip
    make = _LOADS[service.adapters.load]
    return make(
        traffic, service.model_url, service.model, requests, out_dir,
        spec.inference_path(service.model), spec.labels_path,
    )  # fmt: skip


def metrics(service: Service) -> Metrics:
    return metrics_at(service.prometheus_url, service.adapters.metrics, service.prometheus_access)


def pager(service: Service) -> Pager:
    """`InputError` when the service file names no pager."""
    if not service.has_pager:
        raise InputError("the service file names no pager (pagerduty:)")
    return pager_at(
        service.pagerduty_url, service.pagerduty_ca_file, service.adapters.pager,
        service.pagerduty_rest, service.pagerduty_service,
    )  # fmt: skip


def acknowledger(service: Service) -> Callable[[dict[str, Any]], None]:
    """How an incident of ``service`` is acknowledged: through PagerDuty's REST API when it is
    configured with a ``from_email``, else through the Events API with the routing key (held
    in memory only). `InputError` when neither can be done."""
    if (
        service.adapters.pager == "rest"
        and service.pagerduty_rest
        and service.pagerduty_rest.from_email
    ):
        rest = PagerDutyRest(
            service.pagerduty_rest, service.pagerduty_ca_file, service.pagerduty_service
        )
        return rest.acknowledge
    key = service.routing_key()
    if not key:
        raise InputError(
            f"no routing key in {service.routing_key_source}, and no pagerduty.rest with "
            "from_email: mlchaos cannot acknowledge"
        )
    client = events_client(key, service.pagerduty_url, service.pagerduty_ca_file)

    def by_event(incident: dict[str, Any]) -> None:
        client.acknowledge(incident["dedup_key"])

    return by_event


def registry(service: Service) -> ModelRegistry:
    """`TargetError` when the service file names no registry."""
    if service.registry_url is None:
        raise TargetError("this needs a registry: set endpoints.registry in the service file")
    return registry_at(service.registry_url, service.adapters.registry, service.versions.alias)


def traffic(service: Service) -> TrafficFaults:
    return traffic_at(service.gateway_url, service.adapters.traffic)
