"""Read a user's YAML file in bounded time and memory, whatever the file holds.

Every way a file can go wrong becomes a `Problem` (``file:line: field: message``), never a
traceback and never a hang:

- only regular files are read (a named pipe or a device would block or never end);
- at most `MAX_BYTES` are read;
- the text must be UTF-8;
- nesting deeper than `MAX_DEPTH` is refused before the recursive composer can overflow;
- aliases may not expand the document beyond `MAX_NODES` (a "billion laughs" bomb is a few
  hundred bytes that stand for millions of nodes).

    >>> path = Path("experiments/bad-version.yaml")
    >>> root, data = compose(read_text(path), str(path))
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from mlchaos.errors import Problem, ValidationFailed

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "compose", "read_text"]

MAX_BYTES = 256 * 1024
"""An experiment is a page of YAML; 256 KiB is a hundred times more than any needs, and
keeps the worst file's validation near a second."""
MAX_DEPTH = 64
MAX_NODES = 100_000
"""Nodes the document may stand for once every alias is expanded."""


def read_text(path: Path) -> str:
    """The file's text, or `ValidationFailed` saying why it cannot be read as one."""
    source = str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _failed(source, 0, "(file)", exc.strerror or str(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise _failed(source, 0, "(file)", "not a regular file (a pipe, device or directory)")
    if info.st_size > MAX_BYTES:
        raise _failed(source, 0, "(file)", f"{info.st_size} bytes is over the {MAX_BYTES} limit")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _failed(source, 0, "(file)", exc.strerror or str(exc)) from exc
    if len(raw) > MAX_BYTES:  # it grew after the stat
        raise _failed(source, 0, "(file)", f"over the {MAX_BYTES}-byte limit")
    return _decode(raw, source)


def _decode(raw: bytes, source: str) -> str:
    """UTF-8 text, or a problem at the line of the first byte that is not."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        raise _failed(
            source, line, "(file)", f"not UTF-8 text: byte 0x{byte:02x}; save the file as UTF-8"
        ) from exc


def compose(text: str, source: str = "<string>") -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data built from it, within the bounds.

    libyaml does the parsing: PyYAML's pure-Python parser takes seconds on a megabyte.
    """
    try:
        aliases = _check_depth(text, source)
        loader = yaml.CSafeLoader(text)
        try:
            root = loader.get_single_node()
            if root is not None and aliases:
                _check_expansion(root, source)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise _failed(source, line, "(yaml)", str(exc.problem)) from exc
    except yaml.YAMLError as exc:  # the reader's errors (control characters) carry no mark
        raise _failed(source, _reader_line(text, exc), "(yaml)", _reader_message(exc)) from exc
    return root, data


def _check_depth(text: str, source: str) -> int:
    """Refuse deep nesting from the event stream, before the recursive composer sees it.
    Returns how many aliases the document uses."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise _failed(source, line, "(yaml)", f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return aliases


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases stand for more than `MAX_NODES` nodes.

    Each node's expanded size is computed once (aliases share node objects), so this is
    linear in the file, not in the expansion.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion: children are sized before their parents
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done:
            if id(node) in open_:
                line = int(node.start_mark.line) + 1
                raise _failed(source, line, "(yaml)", "an alias refers to itself")
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
            continue
        total = 1 + sum(sizes[id(child)] for child in _children(node))
        sizes[id(node)] = total
        open_.discard(id(node))
        if total > MAX_NODES:
            line = int(node.start_mark.line) + 1
            raise _failed(
                source,
                line,
                "(yaml)",
                f"aliases expand the document to more than {MAX_NODES} nodes",
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _reader_line(text: str, exc: yaml.YAMLError) -> int:
    position = getattr(exc, "position", None)
    return text[:position].count("\n") + 1 if isinstance(position, int) else 0


def _reader_message(exc: yaml.YAMLError) -> str:
    character = getattr(exc, "character", None)
    if isinstance(character, str | int):
        return "the file holds control characters; is it text?"
    return str(exc).splitlines()[0]


def _failed(source: str, line: int, field: str, message: str) -> ValidationFailed:
    return ValidationFailed([Problem(source, line, field, message)])
