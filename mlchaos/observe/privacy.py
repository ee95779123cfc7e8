"""Synthetic PII canaries: fake personal data marked with one run's marker, and the search for
it in the places a service's data lands (`mlchaos.schema.service.Privacy`).

A canary value belongs to no one and is shaped so that it cannot: an email on the reserved
``.invalid`` domain, a card number on a test range (Luhn-valid, so a validator passes it on),
a national id in the 9xx area no SSN is issued in. Every value carries the run's marker, so a
find names this run and no earlier one, and the search looks for each value in the forms a
system might write it (a card's digits grouped by spaces or dashes, an email URL-encoded),
never for digits that merely look alike.

A find names the place and the line, and the canary value found: never the line itself, which
may hold a real person's data beside it.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlchaos.errors import ObservationError
from mlchaos.schema.experiment import PiiKind
from mlchaos.schema.service import PrivacySink

__all__ = [
    "CHUNK",
    "MAX_FILE_BYTES",
    "Canary",
    "Find",
    "Searched",
    "canaries",
    "luhn_digit",
    "search_files",
    "search_labels",
    "search_sinks",
    "search_text",
]

CHUNK = 1 << 20
"""Files are read this much at a time; a value split across two reads is still found."""
MAX_FILE_BYTES = 256 << 20
"""Of a larger file only the last this many bytes are read (what the canaries' time wrote)."""
_NEWLINE = b"\n"
_CARD_PREFIX = "4000"
"""A test range of card numbers: no issuer gives them to a cardholder."""


@dataclass(frozen=True)
class Canary:
    """One fake value of one kind, and the forms it may be found in."""

    kind: PiiKind
    value: str

    def pattern(self) -> str:
        if self.kind == "email":
            return "|".join(re.escape(f) for f in (self.value, quote(self.value, safe="")))
        if self.kind == "card_number":
            groups = [self.value[i:i + 4] for i in range(0, 16, 4)]
            forms = [self.value, " ".join(groups), "-".join(groups)]
            return r"(?<!\d)(?:" + "|".join(re.escape(f) for f in forms) + r")(?!\d)"
        digits = self.value.replace("-", "")
        return r"(?<!\d)(?:" + "|".join(re.escape(f) for f in (self.value, digits)) + r")(?!\d)"


def luhn_digit(digits: str) -> str:
    """The check digit that makes ``digits`` + it pass the Luhn check, as card numbers do."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def canaries(marker: str, request: int, kinds: list[PiiKind]) -> list[Canary]:
    """Request number ``request``'s values for ``kinds``, under the run's ``marker`` (hex)."""
    number = int(marker, 16)
    found = []
    for kind in kinds:
        if kind == "email":
            value = f"mlchaos-canary-{marker}-{request:04d}@pii-canary.invalid"
        elif kind == "card_number":
            body = f"{_CARD_PREFIX}{number % 10**8:08d}{request % 1000:03d}"
            value = body + luhn_digit(body)
        else:  # national_id: 9AA-GG-SSSS, an area no SSN is issued in
            area, group = number % 100, (number // 100) % 100
            digits = f"9{area:02d}{group:02d}{(number + request) % 10**4:04d}"
            value = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
        found.append(Canary(kind, value))
    return found


@dataclass(frozen=True)
class Find:
    sink: str
    where: str
    """The file and line, or the label, or ``answer N``: never the content around it."""
    kind: str
    """The canary's kind, or ``marker``: the run's marker alone (a value cut up or re-cased)."""
    value: str
    """The canary value found (fake by construction: safe to report)."""

    def as_dict(self) -> dict[str, Any]:
        return {"sink": self.sink, "where": self.where, "kind": self.kind, "value": self.value}


@dataclass
class Searched:
    """What one search of one sink read, and found."""

    sink: str
    read: str = ""
    """What was read: ``3 file(s), 1.2 MB``, ``41 labels, 2,310 values``."""
    finds: list[Find] = field(default_factory=list)
    error: str | None = None
    """Why the sink could not be searched: the verdict cannot rest on it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink, "read": self.read, "finds": [f.as_dict() for f in self.finds],
            **({"error": self.error} if self.error else {}),
        }  # fmt: skip


class _Matcher:
    def __init__(self, planted: list[Canary], marker: str) -> None:
        self.by_group = {f"c{i}": c for i, c in enumerate(planted)}
        parts = [f"(?P<{g}>{c.pattern()})" for g, c in self.by_group.items()]
        # The marker alone: a value cut up or re-cased still shows it (never a false find:
        # it is this run's, random).
        parts.append(f"(?P<marker>mlchaos-canary-{re.escape(marker)})")
        self.regex = re.compile("|".join(parts).encode(), re.IGNORECASE)
        self.marker = marker
        self.longest = max(len(c.value) for c in planted) * 3 + 32

    def find(self, data: bytes) -> Iterator[tuple[int, int, Canary | None]]:
        """(start, end, the canary or None for the marker alone) of each find in ``data``."""
        for match in self.regex.finditer(data):
            yield match.start(), match.end(), self.by_group.get(match.lastgroup or "")


def search_text(sink: str, where: str, text: str, planted: list[Canary], marker: str) -> list[Find]:
    """The canaries in ``text`` (an answer's body), each once."""
    matcher = _Matcher(planted, marker)
    return _unique([
        Find(sink, where, c.kind if c else "marker", c.value if c else f"mlchaos-canary-{marker}")
        for _, _, c in matcher.find(text.encode("utf-8", "replace"))
    ])  # fmt: skip


def search_files(
    name: str, sink: PrivacySink, base: Path | None, planted: list[Canary], marker: str
) -> Searched:
    """Every file the sink's patterns match, searched in chunks; a pattern that matches no
    file is an error: the search could not look where the service file says data lands."""
    searched = Searched(name)
    matcher = _Matcher(planted, marker)
    files: list[Path] = []
    for pattern in sink.files:
        full = pattern if Path(pattern).is_absolute() or base is None else str(base / pattern)
        matched = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if not matched:
            searched.error = f"{pattern} matches no file"
            return searched
        files += [f for f in matched if f not in files]
    total = 0
    for path in files:
        try:
            read, finds = _search_file(name, path, matcher)
        except OSError as exc:
            searched.error = f"{path} could not be read: {exc.strerror or exc}"
            return searched
        total += read
        searched.finds += finds
    searched.finds = _unique(searched.finds)
    searched.read = f"{len(files)} file(s), {_size(total)}"
    return searched


def search_labels(
    name: str, labels: dict[str, list[str]], planted: list[Canary], marker: str
) -> Searched:
    """Every label value Prometheus stored (``labels``, from `Prometheus.label_values`)."""
    searched = Searched(name)
    matcher = _Matcher(planted, marker)
    values = 0
    for label, found in sorted(labels.items()):
        values += len(found)
        for value in found:
            for _, _, c in matcher.find(value.encode("utf-8", "replace")):
                searched.finds.append(Find(
                    name, f"label {label}", c.kind if c else "marker",
                    c.value if c else f"mlchaos-canary-{marker}",
                ))  # fmt: skip
    searched.finds = _unique(searched.finds)
    searched.read = f"{len(labels)} labels, {values:,} values"
    return searched


def _label_values_or_error(metrics: Any, since: datetime) -> dict[str, list[str]] | str:
    try:
        return dict(metrics.label_values(since))
    except ObservationError as exc:
        return str(exc)


def _search_file(name: str, path: Path, matcher: _Matcher) -> tuple[int, list[Find]]:
    finds: list[Find] = []
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        start = max(0, size - MAX_FILE_BYTES)
        stream.seek(start)
        line = 1 if start == 0 else None  # lines are counted only from the file's start
        carried = b""
        offset = start
        while True:
            chunk = stream.read(CHUNK)
            data = carried + chunk
            # A find is taken where it starts, before the last `longest` bytes (unless the file
            # ends there): one starting later is whole only with the next read.
            safe = len(data) - matcher.longest if chunk else len(data)
            for at, _, canary in matcher.find(data):
                if at >= safe:
                    break
                where = str(path)
                if line is not None:
                    where += f" line {line + data.count(_NEWLINE, 0, at)}"
                finds.append(Find(
                    name, where, canary.kind if canary else "marker",
                    canary.value if canary else f"mlchaos-canary-{matcher.marker}",
                ))  # fmt: skip
            if not chunk:
                break
            safe = max(safe, 0)
            if line is not None:
                line += data.count(_NEWLINE, 0, safe)
            carried = data[safe:]
            offset += len(chunk)
    return offset - start, finds


def _unique(finds: list[Find]) -> list[Find]:
    seen: dict[tuple[str, str, str], Find] = {}
    for f in finds:
        seen.setdefault((f.where, f.kind, f.value), f)
    return list(seen.values())


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def search_sinks(
    sinks: dict[str, PrivacySink], base: Path | None, metrics: Any, since: datetime,
    planted: list[Canary], marker: str,
) -> list[Searched]:  # fmt: skip
    """One search of every sink; ``metrics`` (a `mlchaos.observe.adapters.Metrics`) is read
    once for all the sinks that search Prometheus's label values."""
    labels: dict[str, list[str]] | str | None = None
    found = []
    for name, sink in sinks.items():
        if sink.files:
            found.append(search_files(name, sink, base, planted, marker))
            continue
        if labels is None:
            labels = _label_values_or_error(metrics, since)
        if isinstance(labels, str):
            found.append(Searched(name, error=labels))
        else:
            found.append(search_labels(name, labels, planted, marker))
    return found
