"""The JSON Schemas mlchaos publishes: made from the pydantic models, never written by hand.

Editors use them through the ``yaml-language-server`` modeline the shipped files carry, CI
checks files and results with them (``check-jsonschema``), and the docs' reference pages are
generated from them. ``schemas/*.schema.json`` in the repository are these, kept equal by a test.

    >>> sorted(json_schema("experiment")["properties"])[:3]
    ['description', 'expect', 'fault']
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from mlchaos.schema.experiment import Experiment
from mlchaos.schema.results import ResultsDocument
from mlchaos.schema.runbook import RunbookSpec
from mlchaos.schema.scenario import Scenario
from mlchaos.schema.service import ServiceFile

__all__ = ["DIALECT", "KINDS", "Kind", "json_schema", "model_of", "schema_text"]

Kind = Literal["experiment", "scenario", "service", "runbook", "results"]
KINDS: tuple[Kind, ...] = ("experiment", "scenario", "service", "runbook", "results")
DIALECT = "https://json-schema.org/draft/2020-12/schema"

# pydantic leaves a constraint it cannot place on a union (a duration given as 30s or 30) as
# its own keyword; JSON Schema's words for it, applied to the union's number branch:
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def model_of(kind: Kind) -> type[BaseModel]:
    """The pydantic model behind a kind of document."""
    models: dict[str, type[BaseModel]] = {
        "experiment": Experiment,
        "scenario": Scenario,
        "service": ServiceFile,
        "runbook": RunbookSpec,
        "results": ResultsDocument,
    }
    return models[kind]


def json_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a kind of document: what a user may write for the input
    files, what mlchaos writes for ``results``."""
    mode: Literal["validation", "serialization"] = (
        "serialization" if kind == "results" else "validation"
    )
    schema = model_of(kind).model_json_schema(mode=mode)
    _place_bounds(schema)
    return {"$schema": DIALECT, **schema}


def schema_text(kind: Kind) -> str:
    """``json_schema`` as the text ``mlchaos schema`` prints and ``schemas/`` holds."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def _place_bounds(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _place_bounds(item)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("anyOf"), list):
        bounds = {_BOUNDS[k]: node.pop(k) for k in list(node) if k in _BOUNDS}
        for branch in node.get("anyOf", [node]):
            if branch.get("type") in ("number", "integer"):
                branch.update(bounds)
    for value in node.values():
        _place_bounds(value)
