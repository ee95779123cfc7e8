"""MkDocs hooks: the documentation's reference is generated from the code at build time.

A page says where a generated part goes with a marker comment:

- ``<!-- mlchaos:schema KIND -->``: every field of that file kind, from its JSON Schema
  (`mlchaos.schema.published`), with type, default and description;
- ``<!-- mlchaos:cli -->``: every `mlchaos` command, its usage, help and options (click);
- ``<!-- mlchaos:faults -->``: each fault type of an experiment, its docstring and fields;
- ``<!-- mlchaos:verdicts -->``: each verdict and exit code, from `mlchaos.vocabulary`;
- ``<!-- mlchaos:burnrates -->``: each burn-rate profile's tiers and how soon they fire;
- ``<!-- mlchaos:file PATH -->``: a file of the repository, as it is (ARCHITECTURE.md).

Nothing generated is written to disk or kept in git; `make docs` runs `mkdocs build --strict`,
which fails on any broken link or missing anchor.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import re
from pathlib import Path
from typing import Any

import click

from mlchaos.cli import cli
from mlchaos.schema.published import json_schema
from mlchaos.vocabulary import EXIT_OF, Exit, Verdict

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- mlchaos:(\w+)(?: ([^ ]+))? -->")


def on_page_markdown(markdown: str, **_: Any) -> str:
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](m.group(2)), markdown)


# -- file kinds ------------------------------------------------------------------------------


def schema_page(kind: str) -> str:
    schema = json_schema(kind)  # type: ignore[arg-type]
    defs = schema.get("$defs", {})
    parts = [_fields_table(schema.get("title", kind), schema, defs)]
    for name in sorted(_reachable(schema, defs)):
        parts.append(_fields_table(name, defs[name], defs))
    return "\n\n".join(parts)


def _reachable(node: Any, defs: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """The definitions a schema uses, directly or through others (unions of faults too)."""
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen and "properties" in defs.get(name, {}):
                seen.add(name)
                _reachable(defs[name], defs, seen)
        for value in node.values():
            _reachable(value, defs, seen)
    elif isinstance(node, list):
        for item in node:
            _reachable(item, defs, seen)
    return seen


def _fields_table(title: str, schema: dict[str, Any], defs: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    lines = [f"### `{title}`", ""]
    if schema.get("description"):
        lines += [_one_paragraph(schema["description"]), ""]
    lines += ["| field | type | default | what it is |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        default = "required" if name in required else _shown(prop.get("default"))
        about = _one_paragraph(prop.get("description", ""))
        lines.append(f"| `{name}` | {_type(prop, defs)} | {default} | {about} |")
    return "\n".join(lines)


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        if "enum" in target:
            return " \\| ".join(f"`{v}`" for v in target["enum"])
        if "properties" not in target:
            return "any JSON value"
        return f"[`{name}`](#{name.lower()})"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop or "oneOf" in prop:
        options = [_type(p, defs) for p in prop.get("anyOf", prop.get("oneOf", []))]
        return " or ".join(dict.fromkeys(o for o in options if o != "null"))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object":
        values = prop.get("additionalProperties") or next(
            iter(prop.get("patternProperties", {}).values()), None
        )
        return f"map to {_type(values, defs)}" if isinstance(values, dict) else "mapping"
    if kind == "string" and "pattern" in prop:
        return _unit(prop["pattern"])
    return str(kind)


def _unit(pattern: str) -> str:
    """What a unit's text looks like, from the pattern the schema gives it."""
    if "sigma" in pattern:
        return "text such as `0.5sigma`"
    if "%" in pattern:
        return "text such as `5%`"
    if "ms|s|m|h" in pattern:
        return "text such as `30s`, `2m`, `500ms`"
    if "://" in pattern:
        return "URL"
    return "text"


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return f"`{json.dumps(value)}`".replace("|", "\\|")


def _one_paragraph(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# -- the CLI ---------------------------------------------------------------------------------


def cli_page(_: str | None) -> str:
    parts = []
    context = click.Context(cli, info_name="mlchaos")
    for name in sorted(cli.commands):
        command = cli.commands[name]
        sub = click.Context(command, info_name=name, parent=context)
        usage = command.get_usage(sub).replace("Usage: ", "")
        lines = [f"### `mlchaos {name}`", "", f"```\n{usage}\n```", ""]
        lines += [inspect.cleandoc(command.help or ""), ""]
        options = [p for p in command.params if isinstance(p, click.Option)]
        if options:
            lines += ["| option | default | what it does |", "|---|---|---|"]
            for option in options:
                flags = ", ".join(f"`{o}`" for o in option.opts)
                default = _option_default(option)
                lines.append(f"| {flags} | {default} | {_one_paragraph(option.help or '')} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _option_default(option: click.Option) -> str:
    if option.is_flag:
        return "off"
    if isinstance(option.show_default, str):
        return _one_paragraph(option.show_default)
    default = option.default
    if default is None or callable(default) or "Sentinel" in repr(default):
        return "—"
    return f"`{default}`"


# -- faults and verdicts ---------------------------------------------------------------------


def faults_page(_: str | None) -> str:
    schema = json_schema("experiment")
    defs = schema["$defs"]
    faults = [d for d in defs.values() if "type" in d.get("properties", {})
              and "const" in d["properties"]["type"]]  # fmt: skip
    parts = []
    for fault in sorted(faults, key=lambda d: d["properties"]["type"]["const"]):
        kind = fault["properties"]["type"]["const"]
        table = _fields_table(kind, fault, defs).replace(f"### `{kind}`", f"### {kind}", 1)
        parts.append(table.replace("](#", "](experiment.md#"))  # its parts are defined there
    return "\n\n".join(parts)


def verdicts_page(_: str | None) -> str:
    verdicts = _attribute_docs(Verdict)
    exits = _attribute_docs(Exit)
    lines = ["| verdict | exit code | meaning |", "|---|---|---|"]
    for verdict in Verdict:
        lines.append(
            f"| `{verdict.value}` | {int(EXIT_OF[verdict])} | {verdicts.get(verdict.name, '')} |"
        )
    lines += ["", "| exit code | meaning |", "|---|---|"]
    lines += [f"| {int(code)} | {exits.get(code.name, '')} |" for code in Exit]
    return "\n".join(lines)


def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each attribute of ``cls``."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.Assign) and isinstance(after, ast.Expr):
            value = getattr(after, "value", None)
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docs[node.targets[0].id] = _one_paragraph(value.value)  # type: ignore[attr-defined]
    return docs


def burnrates_page(_: str | None) -> str:
    """Each profile's tiers, and how soon each fires for a given share of failing requests,
    for a 99.9% objective (``detection_time``: F x budget x long window / error ratio)."""
    from mlchaos.burnrate import detection_time, prom_duration
    from mlchaos.schema.slo import PROFILES, SloSpec

    slo = SloSpec.model_validate({"name": "x", "objective": "99.9%", "sli": {
        "errors": "e[{{window}}]", "total": "t[{{window}}]"}})  # fmt: skip
    ratios = (1.0, 0.1, 0.02)
    lines = [
        "| profile | tier | severity | burn factor | windows (long/short) | fires above | "
        + " | ".join(f"time to fire at {r:.0%} errors" for r in ratios) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(ratios),
    ]
    for profile, tiers in PROFILES.items():
        for tier in tiers:
            times = [detection_time(slo, tier, r) for r in ratios]
            shown = [_human(t) if t is not None else "never" for t in times]
            lines.append(
                f"| `{profile}` | {tier.name} | {tier.severity} | {tier.factor:g}x | "
                f"{prom_duration(tier.long)} / {prom_duration(tier.short)} | "
                f"{tier.factor * slo.budget:.2%} errors | " + " | ".join(shown) + " |"
            )
    return "\n".join(lines)


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def file_page(path: str | None) -> str:
    text = (ROOT / str(path)).read_text()
    return re.sub(r"^# .*\n", "", text, count=1)  # the page has its own title


GENERATORS = {
    "schema": schema_page,
    "cli": cli_page,
    "faults": faults_page,
    "verdicts": verdicts_page,
    "burnrates": burnrates_page,
    "file": file_page,
}
