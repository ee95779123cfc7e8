"""Where a fault's lease lives, and who ends it: the chaos gateway (traffic faults), the
model registry, an MLflow alias and Kubernetes (bad versions), Redis (dependency faults), the
service's processes, a PII canary's requests (nothing held), a training snapshot
(``poisoned_data``), or a plugin's own target.

Each target module provides ``end_lease(journal, intent, lease_id) -> audit entry``; the
journal's ``lease`` records name the target, so `mlchaos recover` finds the right one.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlchaos.journal import Journal

__all__ = ["Target", "target"]


class Target(Protocol):
    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]: ...


def target(name: str) -> Target:
    """The target that ends leases recorded with ``target: name``."""
    from mlchaos.faults import pii_canary, plugins
    from mlchaos.faults.targets import (
        gateway,
        kubernetes,
        mlflow,
        process,
        redis,
        registry,
        training,
    )

    if name.startswith("plugin:"):
        return plugins.PluginKind(name.removeprefix("plugin:"))
    known: dict[str, Target] = {
        "gateway": gateway,
        "registry": registry,
        "kubernetes": kubernetes,
        "mlflow": mlflow,
        "redis": redis,
        "process": process,
        "canary": pii_canary.FAULT,
        "training": training,
    }
    return known[name]
