"""The Chaos Toolkit extension: `mlchaos.ctk.actions`, `mlchaos.ctk.probes`, `mlchaos.ctk.control`.

mlchaos compiles its experiments to Chaos Toolkit experiments that call these, and people who
write raw Chaos Toolkit JSON can call them too (`chaos discover mlchaos`). Every activity takes
the run journal's path from ``configuration["mlchaos_journal"]``.
"""

from typing import Any

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Chaos Toolkit's discovery entry point: what this extension offers."""
    from chaoslib.discovery.discover import discover_activities, initialize_discovery_result

    result: dict[str, Any] = initialize_discovery_result("mlchaos", _version(), "mlchaos")
    result["activities"].extend(discover_activities("mlchaos.ctk.actions", "action"))
    result["activities"].extend(discover_activities("mlchaos.ctk.probes", "probe"))
    return result


def _version() -> str:
    from importlib.metadata import version

    return version("mlchaos")
