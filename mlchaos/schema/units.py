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


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_SIGMA = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(sigma|σ)\s*$")


def parse_share(value: Any) -> float:
    """A share of requests from ``5%`` or a fraction such as ``0.05``; must be in (0, 1].

    >>> parse_share("5%")
    0.05
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a share such as 5% or 0.05, got {value!r}")
    if isinstance(value, int | float):
        share = float(value)
    else:
        match = _PERCENT.match(str(value))
        if not match:
            raise ValueError(f"expected a share such as 5% or 0.05, got {value!r}")
        share = float(match.group(1)) / 100
    if not 0 < share <= 1:
        raise ValueError(f"a share must be above 0% and at most 100%, got {value!r}")
    return share


def parse_sigma(value: Any) -> float:
    """A shift in training standard deviations from ``0.5sigma`` (or ``0.5σ``).

    >>> parse_sigma("0.5sigma")
    0.5
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # already in sigmas, as a compiled experiment carries it
    match = _SIGMA.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError(f"expected a shift such as 0.5sigma or -1sigma, got {value!r}")
    return float(match.group(1))


Share = Annotated[float, BeforeValidator(parse_share)]
"""A share of requests: ``5%`` or ``0.05``."""

Sigma = Annotated[float, BeforeValidator(parse_sigma)]
"""A shift in units of the feature's training standard deviation: ``0.5sigma``."""
