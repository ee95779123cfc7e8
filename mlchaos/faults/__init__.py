"""Faults, by the ``type`` an experiment names.

Each kind injects through its target, records its undo in the journal *before* acting, holds
a lease whose TTL the target enforces by itself, and can prove it is live:

    kind.inject(journal, service, fault) -> lease id
    kind.confirm(journal, service, fault) -> bool      # the fault is observably active
    kind.end_lease(journal, intent, lease_id) -> dict  # the target's audit entry of the end

Third-party faults plug in through the ``mlchaos.faults`` entry-point group; see
`mlchaos.faults.plugins`.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlchaos.engine.journal import Journal
from mlchaos.service import Service


class FaultKind(Protocol):
    TARGET: str

    def inject(self, journal: Journal, service: Service, fault: Any) -> str: ...

    def confirm(self, journal: Journal, service: Service, fault: Any) -> bool: ...

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]: ...


def kind_of(fault: Any) -> FaultKind:
    """The kind that injects ``fault`` (an experiment's ``fault:`` model)."""
    from mlchaos.faults import bad_version, gateway
    from mlchaos.faults.plugins import PluginKind

    if fault.type == "bad_version" and getattr(fault, "kubernetes", None) is not None:
        from mlchaos.faults import kubernetes

        return kubernetes
    if fault.type in ("bad_version", "segment_regression"):
        return bad_version
    if fault.type in gateway.TYPES:
        return gateway
    if fault.type == "plugin":
        return PluginKind(fault.plugin)
    raise KeyError(f"no fault kind {fault.type!r}")


def kind_for_target(target: str) -> FaultKind:
    """The kind that ends leases held by ``target``: the registry, the gateway or a plugin's."""
    from mlchaos.faults import bad_version, gateway
    from mlchaos.faults.plugins import PluginKind

    if target.startswith("plugin:"):
        return PluginKind(target.removeprefix("plugin:"))
    if target == "kubernetes":
        from mlchaos.faults import kubernetes

        return kubernetes
    kinds: dict[str, FaultKind] = {bad_version.TARGET: bad_version, gateway.TARGET: gateway}
    return kinds[target]
