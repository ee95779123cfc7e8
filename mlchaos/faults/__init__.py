"""Fault types, by the ``type`` an experiment names: one module each, one lookup.

Every fault type is an entry point in the ``mlchaos.faults`` group, built-in or not:

    schema_change = "mlchaos.faults.schema_change:FAULT"

and provides, for a fault (the experiment's validated ``fault:`` block):

    fault.inject(journal, service, fault) -> lease id   # the undo is journalled first
    fault.confirm(journal, service, fault) -> bool      # the fault is observably active
    fault.end_lease(journal, intent, lease_id) -> dict  # the target's audit entry of the end
    fault.misfits(service, fault) -> [(field, message)] # what the service file cannot supply
    fault.ready(service, fault) -> str                  # a dry run: what injecting would do

Leases live in targets (`mlchaos.faults.targets`), which enforce their TTL by themselves.
Third-party faults use the same group, and run as ``type: plugin`` (`mlchaos.faults.plugins`).
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any, Protocol

from mlchaos.journal import Journal
from mlchaos.service import Service

__all__ = ["BUILTIN", "GROUP", "FaultType", "fault_type", "ready"]

GROUP = "mlchaos.faults"
BUILTIN = "mlchaos.faults."
"""Entry points whose object lives here are the built-in fault types."""


class FaultType(Protocol):
    def inject(self, journal: Journal, service: Service, fault: Any) -> str: ...

    def confirm(self, journal: Journal, service: Service, fault: Any) -> bool: ...

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]: ...

    def misfits(self, service: Service, fault: Any) -> list[tuple[str, str]]:
        """``(field, message)`` for each of the fault's names the service file does not
        know (a segment, a version), checked before anything runs."""
        ...


def ready(fault_type_: FaultType, service: Service, fault: Any) -> str:
    """What injecting ``fault`` would do, asked of the live staging without changing it
    (`mlchaos doctor`); `mlchaos.errors.TargetError` says why it cannot be injected. A fault
    type without a dry run (a plugin's) says so rather than claim it is ready."""
    dry_run = getattr(fault_type_, "ready", None)
    if dry_run is None:
        return "no dry run: this fault type can only be tried"
    return str(dry_run(service, fault))


def fault_type(name: str) -> FaultType:
    """The fault type registered as ``name`` (an experiment's ``fault.type``)."""
    found = _builtin().get(name)
    if found is None:
        raise KeyError(f"no fault type {name!r} in entry points {GROUP}; reinstall mlchaos")
    loaded: FaultType = found.load()
    return loaded


@functools.cache
def _builtin() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP) if ep.value.startswith(BUILTIN)}
