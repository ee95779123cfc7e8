"""Chaos Toolkit actions: inject and revert faults. Each records to the run journal."""

from __future__ import annotations

from typing import Any

from mlchaos.engine.journal import journal_from
from mlchaos.faults import bad_version

__all__ = ["inject_bad_version", "revert_faults"]


def inject_bad_version(
    registry_url: str,
    model: str,
    variant: str = "inverted",
    ttl_s: float = 300.0,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Promote the ``variant`` bad version of ``model`` under a lease the registry enforces.

    ```json
    {"type": "action", "name": "inject-bad-version",
     "provider": {"type": "python", "module": "mlchaos.ctk.actions", "func": "inject_bad_version",
                  "arguments": {"registry_url": "http://127.0.0.1:18081", "model": "credit-risk",
                                "variant": "inverted", "ttl_s": 300}}}
    ```
    """
    lease_id = bad_version.inject(journal_from(configuration), registry_url, model, variant, ttl_s)
    return {"lease_id": lease_id}


def revert_faults(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """End every fault lease the journal holds; use it as the experiment's rollback."""
    return bad_version.revert(journal_from(configuration))
