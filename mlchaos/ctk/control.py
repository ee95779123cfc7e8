"""The mlchaos Chaos Toolkit control: records each activity's start and end in the journal,
and stops the method when going on would measure nothing.

chaoslib turns any exception raised inside a Python activity into ``ActivityFailed`` and
carries on with the next one, even its own SIGTERM ``InterruptExecution``. Only a control can
interrupt the method, so this one does, after:

- an activity that was interrupted by SIGTERM (chaoslib's handler, in raw `chaos run`);
- an ``inject-*`` action that failed: there is no fault to observe;
- a ``confirm-*`` probe that found the fault inactive, or could not tell (it raised: the
  gateway unreachable, no payload to probe with): waiting then would measure nothing that
  could be trusted, and the verdict says which.

The rollbacks still run either way.
"""

from __future__ import annotations

import re
from typing import Any

from mlchaos.journal import Activity, journal_from

__all__ = ["after_activity_control", "before_activity_control"]


def before_activity_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **_: Any
) -> None:
    journal_from(configuration).write(Activity(name=context.get("name"), phase="start"))


def after_activity_control(
    context: dict[str, Any],
    state: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    from chaoslib.exceptions import InterruptExecution

    exception = "".join(state.get("exception") or []).strip()
    name = str(context.get("name"))
    output = state.get("output")
    journal_from(configuration).write(
        Activity(
            name=name,
            phase="end",
            status=state.get("status"),
            output=output if isinstance(output, bool | dict) else None,
            exception=_headline(exception),
        )
    )
    if "InterruptExecution" in exception:
        raise InterruptExecution(f"{name} was interrupted: {exception.splitlines()[-1]}")
    if name.startswith("inject-") and state.get("status") == "failed":
        raise InterruptExecution(f"{name}: the fault could not be injected; nothing to measure")
    if name.startswith("confirm-") and state.get("output") is False:
        raise InterruptExecution(f"{name}: the injected fault is not active; nothing to measure")
    if name.startswith("confirm-") and state.get("status") == "failed":
        raise InterruptExecution(f"{name}: whether the fault is live cannot be told; stopping")


def _headline(exception: str) -> str | None:
    """The line of a chaoslib traceback that says what failed."""
    if not exception:
        return None
    lines = [line.strip() for line in exception.splitlines() if line.strip()]
    failed = [line for line in lines if "ActivityFailed:" in line]
    chosen = failed[-1].split("ActivityFailed:", 1)[1].strip() if failed else lines[-1]
    # "mlchaos.errors.TargetError: why" says only why; "builtins.KeyError: x" says KeyError: x
    chosen = re.sub(r"^mlchaos\.errors\.\w+: ", "", chosen)
    chosen = re.sub(r"^(?:\w+\.)+(\w+: )", r"\1", chosen)
    return chosen[:500]
