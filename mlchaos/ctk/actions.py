"""Chaos Toolkit actions: inject and revert faults. Each records to the run journal."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from mlchaos.faults import fault_type
from mlchaos.faults.leases import revert_all
from mlchaos.journal import journal_from
from mlchaos.schema import Fault
from mlchaos.service import Service

__all__ = ["inject_fault", "revert_faults"]

_FAULT = TypeAdapter(Fault)


def inject_fault(
    fault: dict[str, Any], service: dict[str, Any], configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Inject ``fault`` (as an experiment's ``fault:`` block) into ``service``, under a lease.

    ```json
    {"type": "action", "name": "inject",
     "provider": {"type": "python", "module": "mlchaos.ctk.actions", "func": "inject_fault",
                  "arguments": {"fault": {"type": "latency_spike", "delay": "400ms",
                                          "share": "50%"},
                                "service": {"model": "credit-risk", "...": "..."}}}}
    ```
    """
    parsed = _FAULT.validate_python(fault)
    target = Service.model_validate(service)
    lease_id = fault_type(parsed.type).inject(journal_from(configuration), target, parsed)
    return {"lease_id": lease_id}


def revert_faults(configuration: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """End every fault lease the journal holds; use it as the experiment's rollback."""
    return revert_all(journal_from(configuration))
