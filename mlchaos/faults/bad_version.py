"""``bad_version``: promote a broken build, by the name the service file's ``versions.bad``
gives it, in the registry; or, with ``kubernetes:``, roll a bad image or environment into a
Deployment (`mlchaos.faults.targets.kubernetes`)."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets import kubernetes
from mlchaos.faults.targets.registry import RegistryFault, lookup
from mlchaos.journal import Journal
from mlchaos.schema.experiment import BadVersionFault
from mlchaos.service import Service

__all__ = ["FAULT", "BadVersion", "version_of"]


def version_of(fault: BadVersionFault, service: Service) -> str:
    if fault.version is not None:
        return fault.version
    return lookup(fault.type, "bad", fault.variant or "inverted", service.versions.bad)


class BadVersion:
    """Through the registry, unless the fault names a Kubernetes Deployment."""

    type = "bad_version"
    registry = RegistryFault("bad_version", version_of, "variant")

    def misfits(self, service: Service, fault: BadVersionFault) -> list[tuple[str, str]]:
        return [] if fault.kubernetes is not None else self.registry.misfits(service, fault)

    def ready(self, service: Service, fault: BadVersionFault) -> str:
        if fault.kubernetes is not None:
            k8s = fault.kubernetes
            return (f"would patch Deployment {k8s.namespace}/{k8s.deployment} (no dry run "
                    "against a cluster: see the Kubernetes notes)")  # fmt: skip
        return self.registry.ready(service, fault)

    def inject(self, journal: Journal, service: Service, fault: BadVersionFault) -> str:
        if fault.kubernetes is not None:
            return kubernetes.inject(journal, service, fault)
        return self.registry.inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: BadVersionFault) -> bool:
        if fault.kubernetes is not None:
            return kubernetes.confirm(journal, service, fault)
        return self.registry.confirm(journal, service, fault)

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        from mlchaos.faults.targets import target

        return target(intent["target"]).end_lease(journal, intent, lease_id)


FAULT = BadVersion()
