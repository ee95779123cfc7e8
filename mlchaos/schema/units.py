"""Units users write in YAML: durations such as ``30s``, ``2m``, ``500ms``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``2m``, ``500ms``, ``1h`` or a bare number of seconds.

    >>> parse_duration("2m")
    120.0
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s or 2m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 30s, 2m or 500ms, got {value!r}")
        seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact way to write a number of seconds: ``90`` -> ``90s``."""
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A duration in seconds that accepts ``30s``, ``2m``, ``500ms`` in YAML."""
