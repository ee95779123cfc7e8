"""``good_version``: the control run of a canary. A version the team trusts goes through the
team's rollout exactly as a bad one does (`mlchaos.faults.bad_version` with ``rollout:
canary``); the rollout must promote it. A canary guard that aborts everything passes every bad
version: only this run shows it stops the right ones."""

from __future__ import annotations

from typing import Any

from mlchaos.faults.targets.registry import RegistryFault
from mlchaos.journal import Journal
from mlchaos.schema.experiment import GoodVersionFault
from mlchaos.service import Service

__all__ = ["FAULT", "GoodVersion", "version_of"]


def version_of(fault: GoodVersionFault, service: Service) -> str:
    return fault.version


class GoodVersion:
    type = "good_version"
    registry = RegistryFault("good_version", version_of, "version")

    def misfits(self, service: Service, fault: GoodVersionFault) -> list[tuple[str, str]]:
        return self.registry.misfits(service, fault)

    def ready(self, service: Service, fault: GoodVersionFault) -> str:
        return self.registry.ready(service, fault)

    def inject(self, journal: Journal, service: Service, fault: GoodVersionFault) -> str:
        return self.registry.inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: GoodVersionFault) -> bool:
        return self.registry.confirm(journal, service, fault)

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return self.registry.end_lease(journal, intent, lease_id)


FAULT = GoodVersion()
