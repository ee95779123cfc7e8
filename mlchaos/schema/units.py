"""Units users write in YAML: durations such as ``30s``, ``2m``, ``500ms``."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "MAX_DURATION_S",
    "MAX_PERIOD_S",
    "MAX_SIGMAS",
    "Duration",
    "HttpsUrl",
    "Period",
    "Share",
    "Sigma",
    "Url",
    "format_duration",
    "parse_duration",
    "parse_period",
    "parse_share",
    "parse_sigma",
    "parse_url",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_SECONDS: dict[str | None, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``2m``, ``500ms``, ``1h`` or a bare number of seconds.

    >>> parse_duration("2m")
    120.0
    """
    seconds = _seconds(value, _DURATION, _SECONDS, "a duration", ("30s or 2m", "30s, 2m or 500ms"))
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration must be at most 7 days (604800s), got {value!r}")
    return seconds


def _seconds(
    value: Any, pattern: re.Pattern[str], units: dict[str | None, float], kind: str,
    examples: tuple[str, str],
) -> float:  # fmt: skip
    """A finite number of seconds from a bare number, or text with a unit ``units`` knows;
    ``kind`` and two ``examples`` (short, full) say what was expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected {kind} such as {examples[0]}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = pattern.match(str(value))
        if not match:
            raise ValueError(f"expected {kind} such as {examples[1]}, got {value!r}")
        seconds = float(match.group(1)) * units[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"{kind} must be a finite number of seconds, got {value!r}")
    return seconds


MAX_DURATION_S = 7 * 24 * 3600.0
"""Longer than any game day, TTL or wait; past it a value is a typo, not a plan."""


def format_duration(seconds: float) -> str:
    """A number of seconds written exactly, so that it parses back to the same float:
    ``90`` -> ``90s``, ``1234.5678`` -> ``1234.5678s``, ``3.6e6`` -> ``3600000s``."""
    text = format(Decimal(repr(float(seconds))), "f")
    return (text.removesuffix(".0") if text.endswith(".0") else text) + "s"


def _number_or(pattern: str, number: dict[str, Any] | None = None) -> Any:
    """The input a unit accepts, for the published JSON Schema: a number, or text that
    matches ``pattern``. (The parser stays the authority: bounds of a field apply to both.)"""
    return Annotated[
        float | Annotated[str, WithJsonSchema({"type": "string", "pattern": pattern})],
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", **(number or {})},
                    {"type": "string", "pattern": pattern},
                ]
            }
        ),
    ]


Duration = Annotated[
    float,
    BeforeValidator(
        parse_duration,
        json_schema_input_type=_number_or(r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$", {"minimum": 0}),
    ),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A duration in seconds that accepts ``30s``, ``2m``, ``500ms`` in YAML."""


_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_PERIOD_S: dict[str | None, float] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
MAX_PERIOD_S = 366 * 86400.0
"""An SLO period longer than a year is a typo."""


def parse_period(value: Any) -> float:
    """Seconds of an SLO period or a burn-rate window: ``30d``, ``4w``, ``1h``, ``5m``.

    >>> parse_period("30d")
    2592000.0
    """
    seconds = _seconds(value, _PERIOD, _PERIOD_S, "a period", ("30d or 1h", "30d, 6h or 5m"))
    if seconds <= 0:
        raise ValueError(f"a period must be more than 0, got {value!r}")
    if seconds > MAX_PERIOD_S:
        raise ValueError(f"a period must be at most 366d, got {value!r}")
    return seconds


Period = Annotated[
    float,
    BeforeValidator(
        parse_period,
        json_schema_input_type=_number_or(
            r"^\s*\d+(\.\d+)?\s*(s|m|h|d|w)\s*$", {"exclusiveMinimum": 0}
        ),
    ),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""An SLO period or a burn-rate window, in seconds: ``30d``, ``1h``, ``5m``."""


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
        sigmas = float(value)  # already in sigmas, as a compiled experiment carries it
    else:
        match = _SIGMA.match(str(value)) if not isinstance(value, bool) else None
        if not match:
            raise ValueError(f"expected a shift such as 0.5sigma or -1sigma, got {value!r}")
        sigmas = float(match.group(1))
    if not math.isfinite(sigmas) or abs(sigmas) > MAX_SIGMAS:
        raise ValueError(
            f"a shift must be between -{MAX_SIGMAS:g} and {MAX_SIGMAS:g} sigma, got {value!r}"
        )
    return sigmas


MAX_SIGMAS = 100.0


Share = Annotated[
    float,
    BeforeValidator(
        parse_share,
        json_schema_input_type=_number_or(
            r"^\s*\d+(\.\d+)?\s*%\s*$", {"exclusiveMinimum": 0, "maximum": 1}
        ),
    ),
]
"""A share of requests: ``5%`` or ``0.05``."""

Sigma = Annotated[
    float,
    BeforeValidator(
        parse_sigma,
        json_schema_input_type=_number_or(
            r"^\s*-?\d+(\.\d+)?\s*(sigma|σ)\s*$", {"minimum": -MAX_SIGMAS, "maximum": MAX_SIGMAS}
        ),
    ),
]
"""A shift in units of the feature's training standard deviation: ``0.5sigma``."""


def parse_url(value: Any, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """A URL a client can really call: the scheme, a host, a port in range, no spaces.

    >>> parse_url("http://127.0.0.1:9090")
    'http://127.0.0.1:9090'
    """
    from urllib.parse import urlsplit

    text = value if isinstance(value, str) else ""
    wanted = " or ".join(f"{s}://" for s in schemes)
    if not text or text.split("://", 1)[0].lower() not in schemes or "://" not in text:
        raise ValueError(f"{value!r} is not an {wanted} URL")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise ValueError(f"{value!r} is not a valid URL: it contains spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from exc
    if not parts.hostname:
        raise ValueError(f"{value!r} is not a valid URL: it names no host")
    if parts.username is not None or parts.password is not None:
        # said without the URL: it holds a secret, and messages must never carry one
        raise ValueError(
            "a URL must not carry credentials (user:password@): name an environment variable "
            "instead (basic_auth.password_env or bearer_token_env)"
        )
    return text


Url = Annotated[
    str,
    BeforeValidator(
        parse_url,
        json_schema_input_type=Annotated[
            str, WithJsonSchema({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s@/]+"})
        ],
    ),
]
"""An ``http://`` or ``https://`` URL with a host and a valid port."""

HttpsUrl = Annotated[
    str,
    BeforeValidator(
        lambda v: parse_url(v, ("https",)),
        json_schema_input_type=Annotated[
            str, WithJsonSchema({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]://[^\\s@/]+"})
        ],
    ),
]
"""An ``https://`` URL: the official PagerDuty client speaks nothing else."""
