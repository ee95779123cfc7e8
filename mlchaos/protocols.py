"""How a model server's requests carry features: encode rows into a request body, and read a
body back into named columns that payload faults change, then write it back in the same shape.

Protocols (the service file's ``payload.protocol``):

- ``oip-v2-columns``: Open Inference Protocol v2, one tensor per feature, named by it;
- ``oip-v2-tensor``: Open Inference Protocol v2, one ``[N, F]`` tensor, features by position
  (MLServer's default codec, Triton's);
- ``kserve-v1``: ``{"instances": [[...], ...]}``, features by position (or by key, when each
  instance is an object);
- ``json``: one object per request, each feature at a dotted path (``applicant.age``).

    >>> codec = Codec("oip-v2-tensor", ("income", "age"))
    >>> body = codec.encode([{"income": 5e4, "age": 31.0}])
    >>> columns = codec.decode(body)          # [Column("income", [5e4]), Column("age", [31.0])]
    >>> codec.rebuild(body, columns[1:])      # the age column alone: shape [1, 1]

OIP datatypes: a feature the service file declares (``payload.datatypes``) has its datatype;
any other is ``BYTES`` when its values are text (a category, ``plan: basic``), else ``FP64``
(`Codec.typed` decides it once over the whole dataset). A ``BYTES`` tensor per feature
carries ``parameters: {content_type: str}``, as MLServer's own string codec writes it, so a
``pd`` request decodes to a DataFrame column of strings.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

__all__ = [
    "DATATYPES",
    "PROTOCOLS",
    "VERSION_HEADER",
    "Codec",
    "Column",
    "Datatype",
    "Protocol",
    "Unreadable",
    "answered_version",
]

VERSION_HEADER = "x-model-version"


_VERSION_KEY = b'"model_version"'
_UNSURE = object()


def _scanned_version(body: bytes) -> object:
    """The version read from the bytes, without parsing the whole answer (the gateway reads
    every answer): a body that names ``"model_version"`` once, as a plain string or a number.
    `_UNSURE` for anything else, which `json` then reads."""
    at = body.find(_VERSION_KEY)
    if at < 0:
        return None  # no answer without the key names a version
    if body.find(_VERSION_KEY, at + 1) >= 0:
        return _UNSURE
    rest = body[at + len(_VERSION_KEY) :].lstrip()
    if rest[:1] != b":":
        return _UNSURE
    rest = rest[1:].lstrip()
    if rest[:1] == b'"':
        end = rest.find(b'"', 1)
        if end < 0 or b"\\" in rest[1:end]:
            return _UNSURE
        return rest[1:end].decode("utf-8", "replace") or None
    digits = len(rest) - len(rest.lstrip(b"0123456789"))
    if digits and rest[digits : digits + 1].strip()[:1] in (b",", b"}", b""):
        return rest[:digits].decode()
    return _UNSURE


def answered_version(header: str | None, body: bytes | str | None) -> str | None:
    """The model version that answered a request: the ``x-model-version`` header, else the
    Open Inference Protocol answer's ``model_version`` (MLServer and Triton put it there).
    The one rule the gateway and mlchaos's own probes share."""
    if header:
        return header
    if not body:
        return None
    if isinstance(body, bytes):
        scanned = _scanned_version(body)
        if scanned is not _UNSURE:
            return scanned  # type: ignore[return-value]
    try:
        answer = json.loads(body)
        version = answer.get("model_version") if isinstance(answer, dict) else None
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    return str(version) if isinstance(version, str | int) and version != "" else None

Protocol = Literal["oip-v2-columns", "oip-v2-tensor", "kserve-v1", "json"]
PROTOCOLS: tuple[Protocol, ...] = ("oip-v2-columns", "oip-v2-tensor", "kserve-v1", "json")
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64", "BYTES",
]  # fmt: skip
"""The Open Inference Protocol's tensor datatypes."""
DATATYPES: tuple[Datatype, ...] = get_args(Datatype)


class Unreadable(ValueError):
    """The body is not a request of this protocol: it is passed on as it came."""


@dataclass
class Column:
    """One feature across the rows of a request."""

    name: str
    values: list[Any]
    origin: int
    """Its place in the original body: the tensor's index, or the feature's position."""
    string: bool = False
    """Retyped to strings by a schema change."""


@dataclass(frozen=True)
class Codec:
    protocol: Protocol = "oip-v2-columns"
    features: tuple[str, ...] = ()
    """Feature names in model order: the positions of a tensor or an instance."""
    tensor: str = "input-0"
    """The single tensor's name (``oip-v2-tensor``)."""
    paths: dict[str, str] = field(default_factory=dict)
    """Where each feature sits in a ``json`` body; default: a top-level key of its name."""
    datatypes: dict[str, Datatype] = field(default_factory=dict)
    """OIP datatype per feature (for ``oip-v2-tensor``, the tensor's name may be given too);
    a feature not named is typed by its values (see the module's docstring)."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """An OIP request's own ``parameters`` (``{"content_type": "pd"}`` for MLServer)."""

    def typed(self, rows: list[dict[str, Any]]) -> Codec:
        """This codec with every feature's datatype settled over ``rows`` (the dataset), so
        that no request types a column differently from the next."""
        names = list(self.features) or sorted({name for row in rows for name in row})
        found: dict[str, Datatype] = {
            name: "BYTES" if any(isinstance(r.get(name), str) for r in rows) else "FP64"
            for name in names
        }
        return replace(self, datatypes={**found, **self.datatypes})

    def datatype(self, name: str, values: list[Any]) -> Datatype:
        """The datatype of feature (or tensor) ``name`` carrying ``values``."""
        declared = self.datatypes.get(name)
        if declared is not None:
            return declared
        return "BYTES" if any(isinstance(v, str) for v in values) else "FP64"

    # -- rows -> a new request -------------------------------------------------------------

    def encode(self, rows: list[dict[str, Any]], request_id: str | None = None) -> dict[str, Any]:
        """A request carrying ``rows`` (feature name -> value), in this protocol."""
        names = list(self.features) or list(rows[0])
        body = _ENCODERS[self.protocol](self, rows, names)
        if self.protocol.startswith("oip"):
            if self.parameters:
                body = {"parameters": dict(self.parameters), **body}
            if request_id is not None:
                body = {"id": request_id, **body}
        return body

    # -- a request -> columns -> the same request, changed ------------------------------------

    def decode(self, body: Any) -> list[Column]:
        """The body's features as columns; `Unreadable` if it is not a request of this kind."""
        try:
            return _DECODERS[self.protocol](self, body)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise Unreadable(f"not an {self.protocol} request: {exc!r}") from exc

    def rebuild(self, body: Any, columns: list[Column]) -> Any:
        """``body`` with its features replaced by ``columns`` (renamed, dropped, changed),
        everything else (id, parameters, outputs, nesting) kept as it was."""
        return _REBUILDERS[self.protocol](self, copy.deepcopy(body), columns)


# -- oip-v2-columns ---------------------------------------------------------------------


def _columns_encode(codec: Codec, rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    inputs = []
    for name in names:
        values = [row[name] for row in rows]
        datatype = codec.datatype(name, values)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [len(rows)],
                                  "data": [_as(datatype, v) for v in values]}  # fmt: skip
        if datatype == "BYTES":
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    return {"inputs": inputs}


def _as(datatype: str, value: Any) -> Any:
    """``value`` as JSON carries a ``datatype`` element."""
    if datatype == "BYTES":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a code read as a number from CSV: 2139, not 2139.0
        return value if isinstance(value, str) else str(value)
    if datatype == "BOOL":
        return bool(value)
    if datatype.startswith(("INT", "UINT")) and isinstance(value, int | float):
        return int(value)
    if datatype.startswith("FP") and isinstance(value, int | float):
        return float(value)
    return value  # text where a number is declared: the server says what it thinks of it


def _columns_decode(codec: Codec, body: Any) -> list[Column]:
    return [
        Column(str(t["name"]), list(_flat(t.get("data", []))), i)
        for i, t in enumerate(body["inputs"])
    ]


def _columns_rebuild(codec: Codec, body: Any, columns: list[Column]) -> Any:
    tensors = body["inputs"]
    out = []
    for c in columns:
        tensor = {**tensors[c.origin], "name": c.name, "data": c.values}
        if c.string:
            tensor["datatype"] = "BYTES"
        out.append(tensor)
    body["inputs"] = out
    return body


# -- oip-v2-tensor ----------------------------------------------------------------------


def _tensor_encode(codec: Codec, rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """One tensor has one datatype: ``BYTES`` as soon as one feature is text."""
    kinds = {codec.datatype(n, [row[n] for row in rows]) for n in names}
    datatype = codec.datatypes.get(codec.tensor) or (
        "BYTES" if "BYTES" in kinds else kinds.pop() if len(kinds) == 1 else "FP64"
    )
    return {
        "inputs": [
            {"name": codec.tensor, "datatype": datatype, "shape": [len(rows), len(names)],
             "data": [[_as(datatype, row[n]) for n in names] for row in rows]}
        ]
    }  # fmt: skip


def _tensor_decode(codec: Codec, body: Any) -> list[Column]:
    [tensor] = [t for t in body["inputs"] if t["name"] == codec.tensor]
    rows, width = _matrix(tensor)
    names = _names(codec, width)
    return [Column(names[j], [row[j] for row in rows], j) for j in range(width)]


def _tensor_rebuild(codec: Codec, body: Any, columns: list[Column]) -> Any:
    [index] = [i for i, t in enumerate(body["inputs"]) if t["name"] == codec.tensor]
    tensor = body["inputs"][index]
    count = len(columns[0].values) if columns else len(_matrix(tensor)[0])
    rows = [[c.values[i] for c in columns] for i in range(count)]
    nested = bool(tensor.get("data")) and isinstance(tensor["data"][0], list)
    tensor["data"] = rows if nested else [v for row in rows for v in row]
    tensor["shape"] = [count, len(columns)]
    if any(c.string for c in columns):
        tensor["datatype"] = "BYTES"
    return body


def _matrix(tensor: dict[str, Any]) -> tuple[list[list[Any]], int]:
    """The tensor's rows, from nested or flat (row-major) data and its ``[N, F]`` shape."""
    data, shape = tensor["data"], tensor["shape"]
    if len(shape) != 2:
        raise TypeError(f"shape {shape} is not [N, F]")
    count, width = int(shape[0]), int(shape[1])
    flat = list(_flat(data))
    if len(flat) != count * width:
        raise ValueError(f"{len(flat)} values do not fill shape {shape}")
    return [flat[i * width : (i + 1) * width] for i in range(count)], width


# -- kserve-v1 --------------------------------------------------------------------------


def _kserve_encode(codec: Codec, rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    return {"instances": [[row[n] for n in names] for row in rows]}


def _kserve_decode(codec: Codec, body: Any) -> list[Column]:
    instances = body["instances"]
    if instances and isinstance(instances[0], dict):
        names = list(instances[0])
        return [Column(n, [inst[n] for inst in instances], j) for j, n in enumerate(names)]
    width = len(instances[0]) if instances else len(codec.features)
    names = _names(codec, width)
    return [Column(names[j], [inst[j] for inst in instances], j) for j in range(width)]


def _kserve_rebuild(codec: Codec, body: Any, columns: list[Column]) -> Any:
    count = len(body["instances"])
    if body["instances"] and isinstance(body["instances"][0], dict):
        body["instances"] = [{c.name: c.values[i] for c in columns} for i in range(count)]
    else:
        body["instances"] = [[c.values[i] for c in columns] for i in range(count)]
    return body


# -- json ---------------------------------------------------------------------------------


def _json_encode(codec: Codec, rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    [row] = rows  # one object per request
    body: dict[str, Any] = {}
    for n in names:
        _put(body, codec.paths.get(n, n), row[n])
    return body


def _json_decode(codec: Codec, body: Any) -> list[Column]:
    if not isinstance(body, dict):
        raise TypeError("the body is not a JSON object")
    names = list(codec.features) or list(codec.paths)
    found = [(j, n) for j, n in enumerate(names) if _has(body, codec.paths.get(n, n))]
    return [Column(n, [_get(body, codec.paths.get(n, n))], j) for j, n in found]


def _json_rebuild(codec: Codec, body: Any, columns: list[Column]) -> Any:
    names = list(codec.features) or list(codec.paths)
    for n in names:
        _pop(body, codec.paths.get(n, n))
    for c in columns:
        original = names[c.origin]
        path = codec.paths.get(original, original)
        if c.name != original:  # renamed: the same place, under the new name
            path = ".".join([*path.split(".")[:-1], c.name])
        _put(body, path, c.values[0])
    return body


def _get(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.split("."):
        node = node[part]
    return node


def _has(body: dict[str, Any], path: str) -> bool:
    try:
        _get(body, path)
    except (KeyError, TypeError):
        return False
    return True


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _pop(body: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = body
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


# -- shared -------------------------------------------------------------------------------


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [v for item in data for v in _flat(item)]
    if not isinstance(data, list):
        raise TypeError("tensor data is not a list")
    return data


def _names(codec: Codec, width: int) -> list[str]:
    """Feature names for ``width`` positions: the service file's, else ``f0``, ``f1``, ..."""
    if len(codec.features) == width:
        return list(codec.features)
    return [f"f{j}" for j in range(width)]


_ENCODERS = {
    "oip-v2-columns": _columns_encode,
    "oip-v2-tensor": _tensor_encode,
    "kserve-v1": _kserve_encode,
    "json": _json_encode,
}
_DECODERS = {
    "oip-v2-columns": _columns_decode,
    "oip-v2-tensor": _tensor_decode,
    "kserve-v1": _kserve_decode,
    "json": _json_decode,
}
_REBUILDERS = {
    "oip-v2-columns": _columns_rebuild,
    "oip-v2-tensor": _tensor_rebuild,
    "kserve-v1": _kserve_rebuild,
    "json": _json_rebuild,
}
