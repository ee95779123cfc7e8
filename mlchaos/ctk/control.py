"""The mlchaos Chaos Toolkit control: records each activity's start and end in the journal.

With it, a journal shows where a run was when it crashed, and which activity failed.
"""

from __future__ import annotations

from typing import Any

from mlchaos.engine.journal import journal_from

__all__ = ["after_activity_control", "before_activity_control"]


def before_activity_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **_: Any
) -> None:
    journal_from(configuration).write("activity", name=context.get("name"), phase="start")


def after_activity_control(
    context: dict[str, Any],
    state: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    journal_from(configuration).write(
        "activity",
        name=context.get("name"),
        phase="end",
        status=state.get("status"),
        output=state.get("output") if isinstance(state.get("output"), bool | dict) else None,
        exception=(state.get("exception") or [""])[-1].strip()[:500] or None,
    )
