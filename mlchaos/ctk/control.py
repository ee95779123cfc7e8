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

Before any of that, ``configure_control`` checks that the experiment fits its service, as
`mlchaos run` does: a compiled experiment (`mlchaos compile`) reads its experiment and
service files again and reports a misfit at its line; any experiment's ``inject_fault``
arguments are checked against the service they carry. A misfit is bad input: the reasons on
stderr and exit 2, before the steady state is even probed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mlchaos.errors import InputError, ValidationFailed
from mlchaos.faults import fault_type
from mlchaos.journal import Activity, journal_from
from mlchaos.loader import load_experiment, load_service
from mlchaos.schema import Fault
from mlchaos.service import Service
from mlchaos.vocabulary import Exit

__all__ = ["after_activity_control", "before_activity_control", "configure_control", "misfits"]


def configure_control(
    experiment: dict[str, Any], configuration: dict[str, Any] | None = None, **_: Any
) -> None:
    """Refuse, with exit 2, an experiment that does not fit its service (see above)."""
    found = misfits(experiment, configuration or {})
    if found:
        for line in found:
            print(line, file=sys.stderr)
        raise SystemExit(Exit.BAD_INPUT)  # bad input: chaoslib must not go on to run it


def misfits(experiment: dict[str, Any], configuration: dict[str, Any]) -> list[str]:
    """Each misfit as ``file:line: field: message`` (or ``title: step: field: message`` for
    an experiment written as raw Chaos Toolkit JSON)."""
    carried = _injections(experiment)
    source = configuration.get("mlchaos_source")
    service_file = configuration.get("mlchaos_service_file")
    if isinstance(source, str) and Path(source).is_file():  # else the carried copy is all there is
        try:
            service = carried[0][2] if carried else None
            if isinstance(service_file, str) and Path(service_file).is_file():
                service = load_service(service_file)  # as the file says now
            load_experiment(source, service)
        except ValidationFailed as failed:
            return [str(p) for p in failed.problems]
        except InputError as exc:
            return [str(exc)]
    title = experiment.get("title") or "experiment"
    return [
        f"{title}: {step}: fault.{field}: {message}"
        for step, fault, service in carried
        for field, message in fault_type(fault.type).misfits(service, fault)
    ]


def _injections(experiment: dict[str, Any]) -> list[tuple[str, Fault, Service]]:
    """Each ``inject_fault`` step of the method, with the fault and service it carries (one
    that does not parse is left for ``inject_fault`` itself to refuse, at injection)."""
    found = []
    for activity in experiment.get("method") or []:
        provider = (activity.get("provider") or {}) if isinstance(activity, dict) else {}
        if provider.get("func") != "inject_fault":
            continue
        arguments = provider.get("arguments") or {}
        try:
            fault = TypeAdapter(Fault).validate_python(arguments.get("fault"))
            service = Service.model_validate(arguments.get("service"))
        except ValidationError:
            continue
        found.append((str(activity.get("name")), fault, service))
    return found


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
