"""A service's payload: the rows its load replays, read and checked before anything runs.

JSON lines, one request per line: ``{"features": {"income": 52000, "age": 31}, "label": 0}``.
``label`` is optional: the true outcome, posted back later for accuracy and concept drift.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchaos.errors import Problem, ValidationFailed

__all__ = ["MAX_BYTES", "Row", "read_payload"]

MAX_BYTES = 64 * 1024 * 1024
"""A payload larger than this is refused: the load replays it, it does not need a data lake."""


@dataclass(frozen=True)
class Row:
    features: dict[str, float]
    label: float | None = None


def read_payload(path: Path) -> list[Row]:
    """Every row of ``path``; `ValidationFailed` with ``file:line: field: message`` otherwise."""
    text = _text(path)
    rows: list[Row] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            row = _row(str(path), number, line, problems)
            if row is not None:
                rows.append(row)
        if len(problems) >= 10:
            break
    if not rows and not problems:
        problems.append(Problem(str(path), 1, "(file)", "no rows: the load has nothing to send"))
    if problems:
        raise ValidationFailed(problems)
    return rows


def _text(path: Path) -> str:
    try:
        if not path.is_file():
            raise ValidationFailed([Problem(str(path), 1, "(file)", "not a readable file")])
        if path.stat().st_size > MAX_BYTES:
            limit = MAX_BYTES // 1024 // 1024
            raise ValidationFailed([Problem(str(path), 1, "(file)", f"larger than {limit} MiB")])
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed([Problem(str(path), 1, "(file)", f"unreadable: {exc}")]) from exc


def _row(source: str, number: int, line: str, problems: list[Problem]) -> Row | None:
    try:
        data: Any = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        problems.append(Problem(source, number, "(row)", "not JSON"))
        return None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, dict) or not features:
        problems.append(Problem(source, number, "features", "expected a mapping of name: number"))
        return None
    bad = [k for k, v in features.items() if not _number(v)]
    if bad:
        problems.append(Problem(source, number, f"features.{bad[0]}", "expected a finite number"))
        return None
    label = data.get("label")
    if label is not None and not _number(label):
        problems.append(Problem(source, number, "label", "expected a number or null"))
        return None
    return Row({k: float(v) for k, v in features.items()}, None if label is None else float(label))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
