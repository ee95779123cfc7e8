"""The exceptions mlchaos raises, all under one root.

    MlchaosError
    ├── InputError              bad user input: a file, a flag, a target below the floor (exit 2)
    │   └── ValidationFailed    one or more `file:line: field: message` problems
    ├── StackError              the reference stack could not start, stop or be found
    │   └── PortInUse           a configured port is already bound
    ├── TargetError             a fault's target refused the injection or the revert
    └── ObservationError        a source of truth (Prometheus, PagerDuty, the registry) could not
        │                       be read; verdicts turn this into *inconclusive*, never *pass*
        └── AccessRefused       it refused mlchaos's credentials (HTTP 401 or 403)

A missed MTTR target is a verdict, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AccessRefused",
    "InputError",
    "MlchaosError",
    "ObservationError",
    "PortInUse",
    "Problem",
    "StackError",
    "TargetError",
    "ValidationFailed",
]


class MlchaosError(Exception):
    """Root of every error mlchaos raises on purpose."""


class InputError(MlchaosError):
    """The user's input is wrong; the message says where and how to fix it."""


@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as ``file:line: field: message``."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ValidationFailed(InputError):
    """A file failed validation; ``problems`` holds every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StackError(MlchaosError):
    """The reference stack could not be started, stopped or found."""


class PortInUse(StackError):
    """A port the stack needs is already bound by another process."""


class TargetError(MlchaosError):
    """A fault's target refused an injection or a revert."""


class ObservationError(MlchaosError):
    """A source of truth could not be read, so what it owns cannot be known."""


class AccessRefused(ObservationError):
    """A source of truth refused mlchaos's credentials: never read around it."""
