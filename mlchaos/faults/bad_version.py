"""``bad_version``: promote a broken build, by the name the service file's ``versions.bad``
gives it, in the registry; or, with ``kubernetes:``, roll a bad image or environment into a
Deployment (`mlchaos.faults.targets.kubernetes`).

On MLflow, a ``slow`` or ``constant`` variant the service file does not name is built: a copy
of the champion, broken so, registered as a new version and promoted through the alias and the
deploy step like any other (`mlchaos.faults.targets.mlflow_build`); its lease deletes it."""

from __future__ import annotations

from typing import Any, cast

from mlchaos.errors import TargetError
from mlchaos.faults.builds import BUILT, Buildable
from mlchaos.faults.targets import kubernetes, mlflow, mlflow_build
from mlchaos.faults.targets.registry import RegistryFault, lookup
from mlchaos.journal import Journal
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.schema.experiment import BadVersionFault
from mlchaos.service import Service

__all__ = ["DEFAULT_DELAY_S", "FAULT", "BadVersion", "builds", "version_of"]


def version_of(fault: BadVersionFault, service: Service) -> str:
    if fault.version is not None:
        return fault.version
    return lookup(fault.type, "bad", fault.variant or "inverted", service.versions.bad)


DEFAULT_DELAY_S = 0.3


def builds(fault: BadVersionFault, service: Service) -> bool:
    """Whether mlchaos builds the fault's version (a variant MLflow has no version of)."""
    variant = fault.variant or "inverted"
    return (
        fault.version is None and fault.kubernetes is None and fault.rollout is None
        and service.adapters.registry == "mlflow" and variant not in service.versions.bad
        and variant in BUILT
    )  # fmt: skip


def _built_version(journal: Journal) -> str:
    from mlchaos.journal import EventRecord
    from mlchaos.vocabulary import Event

    found = [r for r in journal.of(EventRecord) if r.event is Event.INJECTED]
    return str(found[-1].detail.get("version", "")) if found else ""


class BadVersion:
    """Through the registry, unless the fault names a Kubernetes Deployment."""

    type = "bad_version"
    registry = RegistryFault("bad_version", version_of, "variant")

    def misfits(self, service: Service, fault: BadVersionFault) -> list[tuple[str, str]]:
        if fault.kubernetes is not None:
            return []
        if builds(fault, service):
            if service.registry_url is None:
                return [("variant", "a built variant needs endpoints.registry (MLflow)")]
            return []
        return self.registry.misfits(service, fault)

    def ready(self, service: Service, fault: BadVersionFault) -> str:
        if fault.kubernetes is not None:
            k8s = fault.kubernetes
            return (f"would patch Deployment {k8s.namespace}/{k8s.deployment} (no dry run "
                    "against a cluster: see the Kubernetes notes)")  # fmt: skip
        if builds(fault, service):
            model, alias = fault.model or service.model, service.versions.alias
            assert service.registry_url is not None
            champion, folder, pickled = mlflow_build.champion_files(
                MlflowAliases(service.registry_url), model, alias)
            return (f"would register a {fault.variant} copy of {model} version {champion} "
                    f"({folder / pickled.name}) and promote it through {alias}")  # fmt: skip
        return self.registry.ready(service, fault)

    def inject(self, journal: Journal, service: Service, fault: BadVersionFault) -> str:
        if fault.kubernetes is not None:
            return kubernetes.inject(journal, service, fault)
        if builds(fault, service):
            model = fault.model or service.model
            if service.registry_url is None:
                raise TargetError("a built variant needs endpoints.registry (MLflow)")
            variant, delay = cast(Buildable, fault.variant), fault.delay or DEFAULT_DELAY_S
            built = mlflow_build.make_copy(service.registry_url, model, service.versions.alias,
                                           variant, delay)  # fmt: skip
            return mlflow.inject(journal, service, self.type, model, str(built["version"]),
                                 fault.ttl, built)  # fmt: skip
        return self.registry.inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: BadVersionFault) -> bool:
        if fault.kubernetes is not None:
            return kubernetes.confirm(journal, service, fault)
        if builds(fault, service):
            version = _built_version(journal)
            built = RegistryFault[BadVersionFault]("bad_version", lambda _f, _s: version, "variant")
            return built.confirm(journal, service, fault)
        return self.registry.confirm(journal, service, fault)

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        from mlchaos.faults.targets import target

        return target(intent["target"]).end_lease(journal, intent, lease_id)


FAULT = BadVersion()
