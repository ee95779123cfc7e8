"""A service's payload: the requests its load replays, read and checked before anything runs.

Either a dataset, encoded in the service's protocol (`mlchaos.protocols`):

- JSON lines, one row each: ``{"features": {"income": 52000, "tier": "gold"}, "label": 0}``
  (or the row's columns at the top level, the label column among them);
- CSV with a header row; numbers are read as numbers, anything else as a category;
- Parquet (needs ``pyarrow``: ``pip install 'mlchaos[parquet]'``);

or ready request bodies, JSON lines sent as they are. The label (the true outcome, posted back
later for accuracy and concept drift) comes from the dataset's label column.

Every problem is ``file:line: field: message``, found before any load starts.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mlchaos.errors import Problem, ValidationFailed
from mlchaos.protocols import Codec

__all__ = [
    "MAX_BYTES",
    "MAX_PROBLEMS",
    "Row",
    "first_request",
    "labelled_requests",
    "prepare",
    "read_bodies",
    "read_payload",
]

MAX_BYTES = 64 * 1024 * 1024
"""A payload larger than this is refused: the load replays it, it does not need a data lake."""
MAX_PROBLEMS = 10
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    features: dict[str, Any]
    """Feature name -> a finite number, or a string for a category."""
    label: float | None = None


def read_payload(
    path: Path, label: str | None = "label", text: frozenset[str] = frozenset()
) -> list[Row]:
    """Every row of the dataset at ``path`` (JSON lines, CSV or Parquet, by extension).
    A CSV cell of a ``text`` column stays as written (a zip code ``02139``, not 2139.0)."""
    suffix = path.suffix.lower()
    found = (
        _csv_rows(path, text) if suffix == ".csv"
        else _parquet_rows(path) if suffix == ".parquet"
        else _json_rows(path)
    )  # fmt: skip
    rows: list[Row] = []
    problems: list[Problem] = []
    for number, raw in found:
        row = _row(str(path), number, raw, label, problems)
        if row is not None:
            rows.append(row)
        if len(problems) >= MAX_PROBLEMS:
            break
    return _checked(path, rows, problems)


def read_bodies(path: Path) -> list[Any]:
    """Request bodies, one JSON value per line, to be sent as they are."""
    bodies: list[Any] = []
    problems: list[Problem] = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if line.strip():
            try:
                bodies.append(json.loads(line))
            except (ValueError, RecursionError):
                problems.append(Problem(str(path), number, "(body)", "not JSON"))
        if len(problems) >= MAX_PROBLEMS:
            break
    return _checked(path, bodies, problems)


def prepare(
    codec: Codec, out: Path, dataset: Path | None = None, bodies: Path | None = None,
    label: str | None = "label",
) -> Path:  # fmt: skip
    """Write the requests the load sends to ``out``: JSON lines of ``{"body", "label"}``."""
    lines = labelled_requests(codec, dataset, bodies, label)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps({"body": b, "label": y}) + "\n" for b, y in lines))
    return out


def labelled_requests(
    codec: Codec, dataset: Path | None = None, bodies: Path | None = None,
    label: str | None = "label",
) -> list[tuple[Any, float | None]]:  # fmt: skip
    """Every request the load sends, in order, with the true outcome where the dataset has
    one: ready bodies as they are, or the dataset's rows encoded in the service's protocol
    (each feature typed once over the whole dataset)."""
    if bodies is not None:
        return [(body, None) for body in read_bodies(bodies)]
    assert dataset is not None
    rows = read_payload(dataset, label, _text_features(codec))
    _check_features(codec, rows, dataset)
    typed = codec.typed([r.features for r in rows])
    return [(typed.encode([r.features]), r.label) for r in rows]


def first_request(codec: Codec, dataset: Path | None, bodies: Path | None) -> Any:
    """One request as the load sends it: the payload's first."""
    if bodies is not None:
        return read_bodies(bodies)[0]
    assert dataset is not None
    rows = read_payload(dataset, text=_text_features(codec))
    return codec.typed([r.features for r in rows]).encode([rows[0].features])


def _text_features(codec: Codec) -> frozenset[str]:
    return frozenset(name for name, kind in codec.datatypes.items() if kind == "BYTES")


# -- reading ------------------------------------------------------------------------------


def _text(path: Path) -> str:
    try:
        _bounded(path)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed([Problem(str(path), 1, "(file)", f"unreadable: {exc}")]) from exc


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except (ValueError, RecursionError):
                yield number, None


def _csv_rows(path: Path, text: frozenset[str] = frozenset()) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(_text(path)))
    for record in reader:
        if None in record or None in record.values():
            yield reader.line_num, None  # a row with more or fewer cells than the header
            continue
        yield reader.line_num, {k: v if k in text else _cell(v) for k, v in record.items()}


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        _bounded(path)
    except OSError as exc:
        raise ValidationFailed([Problem(str(path), 1, "(file)", f"unreadable: {exc}")]) from exc
    try:
        import pyarrow.parquet as pq  # optional: only Parquet payloads need it
    except ImportError as exc:
        raise ValidationFailed(
            [Problem(str(path), 1, "(file)",
                     "reading Parquet needs pyarrow: pip install 'mlchaos[parquet]'")]
        ) from exc  # fmt: skip
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own types for a file that is not Parquet
        raise ValidationFailed([Problem(str(path), 1, "(file)", f"not Parquet: {exc}")]) from exc
    yield from enumerate(table.to_pylist(), start=1)


def _bounded(path: Path) -> None:
    """`ValidationFailed` unless ``path`` is a regular file of at most `MAX_BYTES`."""
    if not path.is_file():
        raise ValidationFailed([Problem(str(path), 1, "(file)", "not a readable file")])
    if path.stat().st_size > MAX_BYTES:
        limit = MAX_BYTES // 1024 // 1024
        raise ValidationFailed([Problem(str(path), 1, "(file)", f"larger than {limit} MiB")])


def _cell(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


# -- checking -----------------------------------------------------------------------------


def _row(
    source: str, number: int, data: Any, label: str | None, problems: list[Problem]
) -> Row | None:
    if not isinstance(data, dict):
        problems.append(Problem(source, number, "(row)", "not a JSON object or a whole row"))
        return None
    nested = data.get("features")
    columns = nested if isinstance(nested, dict) else data
    features = {k: v for k, v in columns.items() if k != label}
    if not features:
        problems.append(Problem(source, number, "features", "expected a mapping of name: value"))
        return None
    bad = [k for k, v in features.items() if not (_number(v) or isinstance(v, str))]
    if bad:
        problems.append(Problem(source, number, f"features.{bad[0]}",
                                "expected a finite number or a string"))  # fmt: skip
        return None
    outcome = data.get(label) if label else None
    if outcome is not None and not _number(outcome):
        problems.append(Problem(source, number, str(label), "expected a number or null"))
        return None
    return Row(features, None if outcome is None else float(outcome))


def _checked(path: Path, items: list[T], problems: list[Problem]) -> list[T]:
    if not items and not problems:
        problems.append(Problem(str(path), 1, "(file)", "no rows: the load has nothing to send"))
    if problems:
        raise ValidationFailed(problems)
    return items


def _check_features(codec: Codec, rows: list[Row], source: Path) -> None:
    """Every feature the protocol places by position is in every row."""
    for number, row in enumerate(rows, start=1):
        missing = [f for f in codec.features if f not in row.features]
        if missing:
            raise ValidationFailed(
                [Problem(str(source), number, f"features.{missing[0]}",
                         "the service file's payload.features names it; this row lacks it")]
            )  # fmt: skip


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
