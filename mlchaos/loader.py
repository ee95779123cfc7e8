"""Load experiment and scenario YAML into the schema, reporting every problem with its line.

Validation is pure and offline: it reads the file and nothing else.

    >>> experiment = load_experiment("experiments/bad-version.yaml")
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from mlchaos.errors import Problem, ValidationFailed
from mlchaos.reading import compose, read_text
from mlchaos.schema import Experiment, Scenario
from mlchaos.schema.service import ServiceFile
from mlchaos.service import Service

__all__ = [
    "MAX_PROBLEMS",
    "PATTERN_HINTS",
    "M",
    "Planned",
    "load_any",
    "load_document",
    "load_experiment",
    "load_plan",
    "load_scenario",
    "load_service",
    "misfits",
    "parse_document",
    "validate_composed",
]

M = TypeVar("M", bound=BaseModel)


def load_any(path: str | Path, service: Service | None = None) -> str:
    """Validate an experiment, scenario or service file by its own schema; return its kind.

    The kind comes from the document's fields: ``experiments`` makes a scenario, ``endpoints``
    a service file, anything else an experiment. With ``service``, experiments must also fit
    it: every segment and version they name is one the service file gives.
    """
    root, data = compose(read_text(Path(path)), str(path))
    kind = _kind_of(data)
    if kind == "experiment":
        experiment = validate_composed(root, data, Experiment, str(path))
        _raise_misfits(root, str(path), experiment, service)
    elif kind == "scenario":
        load_scenario(path, service)
    else:
        load_service(path)
    return kind


def _kind_of(data: Any) -> str:
    if isinstance(data, dict) and "experiments" in data:
        return "scenario"
    if isinstance(data, dict) and "endpoints" in data:
        return "service"
    return "experiment"


def load_experiment(path: str | Path, service: Service | None = None) -> Experiment:
    """Read and validate one experiment file; raise ``ValidationFailed`` with every problem.
    With ``service``, the experiment must also fit it (see `misfits`)."""
    root, data = compose(read_text(Path(path)), str(path))
    experiment = validate_composed(root, data, Experiment, str(path))
    _raise_misfits(root, str(path), experiment, service)
    return experiment


def misfits(experiment: Experiment, service: Service) -> list[tuple[str, str]]:
    """``(field, message)`` for each name in the experiment's fault that the service file
    does not give (a segment, a version): bad input, found before anything runs."""
    from mlchaos.faults import fault_type

    found = fault_type(experiment.fault.type).misfits(service, experiment.fault)
    unfit = [
        (f"expect.{name}", "the service file names no pager (pagerduty:), so nothing can page")
        for name in ("paging", "acknowledgement")
        if getattr(experiment.expect, name) is not None and not service.has_pager
    ]
    mitigation = experiment.expect.mitigation
    if mitigation is not None and mitigation.by == "fallback" and not service.versions.fallback:
        unfit.append((
            "expect.mitigation.by",
            "a fallback is read from what is served: set versions.fallback in the service file "
            "to the version its answers carry (x-model-version or the OIP model_version)",
        ))  # fmt: skip
    return [(f"fault.{field}", message) for field, message in found] + unfit


def _raise_misfits(
    root: yaml.Node | None, source: str, experiment: Experiment, service: Service | None
) -> None:
    if service is None:
        return
    problems = [
        Problem(source, _line_of(root, tuple(field.split("."))), field, message)
        for field, message in misfits(experiment, service)
    ]
    if problems:
        raise ValidationFailed(problems)


def load_service(path: str | Path) -> Service:
    """Read and validate a service file; relative paths in it resolve against its folder."""
    document = load_document(path, ServiceFile)
    return Service.from_file(document, Path(path).resolve().parent)


@dataclass(frozen=True)
class Planned:
    """An experiment and the service file it runs against (None: the game day's own)."""

    experiment: Experiment
    file: Path
    """The experiment file it was read from."""
    service_file: Path | None = None


def load_scenario(
    path: str | Path, service: Service | None = None
) -> tuple[Scenario, list[Experiment]]:
    """Read a scenario and every experiment it names; problems from all files are reported.
    An experiment whose entry names a service file fits that service, not ``service``
    (`load_plan` says which is which)."""
    scenario, planned = load_plan(path, service)
    return scenario, [p.experiment for p in planned]


def load_plan(path: str | Path, service: Service | None = None) -> tuple[Scenario, list[Planned]]:
    """`load_scenario`, with the service file each experiment runs against. A service file an
    entry names is read and checked here too, and ``parallel: true`` is refused (at its line)
    when two services share a target (`Service.targets`)."""
    scenario = load_document(path, Scenario)
    text = Path(path).read_text()
    base = Path(path).parent
    planned: list[Planned] = []
    problems: list[Problem] = []
    services: dict[Path, Service | None] = {}
    for index, entry in enumerate(scenario.entries()):
        at: tuple[Any, ...] = ("experiments", index)
        fits, service_file = service, None
        if entry.service is not None:
            service_file = (base / entry.service).resolve()
            if service_file not in services:
                services[service_file] = _entry_service(service_file, text, at, path, problems)
            fits = services[service_file]
            if fits is None:
                continue
        exp_path = base / entry.file
        if not exp_path.is_file():
            where = at if isinstance(scenario.experiments[index], str) else (*at, "file")
            line = _line_of(_compose(text), where)
            field = ".".join(map(str, where))
            problems.append(Problem(str(path), line, field, f"no such file: {exp_path}"))
            continue
        try:
            planned.append(Planned(load_experiment(exp_path, fits), exp_path, service_file))
        except ValidationFailed as failed:
            problems.extend(failed.problems)
    names = [p.experiment.name for p in planned]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            Problem(str(path), 1, "experiments", f"experiment name {dup!r} appears twice")
        )
    if scenario.parallel and not problems:
        problems += _shared_targets(scenario, planned, service, services, path)
    if problems:
        raise ValidationFailed(problems)
    planned = [Planned(_with_defaults(p.experiment, scenario, path), p.file, p.service_file)
               for p in planned]  # fmt: skip
    return _draw(scenario, planned, path)


def _entry_service(
    service_file: Path, text: str, at: tuple[Any, ...], path: str | Path, problems: list[Problem]
) -> Service | None:
    if not service_file.is_file():
        line = _line_of(_compose(text), (*at, "service"))
        problems.append(Problem(str(path), line, ".".join(map(str, (*at, "service"))),
                                f"no such file: {service_file}"))  # fmt: skip
        return None
    try:
        return load_service(service_file)
    except ValidationFailed as failed:
        problems.extend(failed.problems)
        return None


def _shared_targets(
    scenario: Scenario,
    planned: list[Planned],
    default: Service | None,
    services: dict[Path, Service | None],
    path: str | Path,
) -> list[Problem]:
    """Two services of a parallel game day that share a target, each pair once."""
    used = {p.service_file for p in planned}
    named: dict[str, Service] = {
        str(f) if f is not None else "the game day's own service": s
        for f, s in [(None, default), *services.items()]
        if f in used and s is not None
    }
    line = _line_of(_compose(Path(path).read_text()), ("parallel",))
    found = []
    keys = sorted(named)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            shared = sorted(named[first].targets() & named[second].targets())
            if shared:
                found.append(Problem(str(path), line, "parallel",
                    f"{first} and {second} share {', '.join(shared)}: run them one after "
                    "another (parallel: false)"))  # fmt: skip
    return found


def _with_defaults(experiment: Experiment, scenario: Scenario, path: str | Path) -> Experiment:
    """The experiment with the scenario's default targets where its own leave them out; never
    a canary's (its rollout is what is judged), nor an acknowledgement where nothing pages."""
    expect = experiment.expect.model_dump()
    defaults = scenario.defaults.model_dump(exclude_none=True)
    missing = {k: v for k, v in defaults.items() if expect.get(k) is None}
    if expect.get("no_recovery"):  # it says why it has no recovery target: none is filled in
        missing.pop("recovery", None)
    if expect.get("abort") or expect.get("promotion"):  # a canary: judged on its rollout alone
        return experiment
    if expect.get("paging") is None and "paging" not in missing:  # only a page is acknowledged
        missing.pop("acknowledgement", None)
    if not missing:
        return experiment
    try:
        return Experiment.model_validate(
            {**experiment.model_dump(), "expect": {**expect, **missing}}
        )
    except ValidationError as exc:
        line = _line_of(_compose(Path(path).read_text()), ("defaults",))
        problems = [
            Problem(str(path), line, "defaults", f"{experiment.name}: {e['msg']}")
            for e in exc.errors()
        ]
        raise ValidationFailed(problems) from exc


def _draw(
    scenario: Scenario, experiments: list[Planned], path: str | Path
) -> tuple[Scenario, list[Planned]]:
    """The wheel of misfortune: a seeded random pick, in the listed order. The seed is kept in
    the scenario (chosen now when the file gives none), so the draw can be replayed."""
    import random
    import secrets

    draw = scenario.draw
    if draw is None:
        return scenario, experiments
    if draw.count > len(experiments):
        line = _line_of(_compose(Path(path).read_text()), ("draw", "count"))
        raise ValidationFailed(
            [Problem(str(path), line, "draw.count", f"{draw.count} is more than the "
                     f"{len(experiments)} experiments listed")]
        )  # fmt: skip
    seed = draw.seed if draw.seed is not None else secrets.randbelow(2**31)
    picked = set(random.Random(seed).sample(range(len(experiments)), draw.count))
    chosen = [e for i, e in enumerate(experiments) if i in picked]
    drawn = scenario.model_copy(update={"draw": draw.model_copy(update={"seed": seed})})
    return drawn, chosen


def load_document(path: str | Path, model: type[M]) -> M:
    """Read ``path`` (bounded: see `mlchaos.reading`) and validate it as ``model``."""
    return parse_document(read_text(Path(path)), model, source=str(path))


def parse_document(text: str, model: type[M], source: str = "<string>") -> M:
    """Validate YAML ``text`` as ``model``; ``source`` names it in problems."""
    root, data = compose(text, source)
    return validate_composed(root, data, model, source)


def validate_composed(root: yaml.Node | None, data: Any, model: type[M], source: str) -> M:
    """Validate YAML already composed by `mlchaos.reading.compose` as ``model``."""
    problems = _duplicate_keys(root, source)
    if not isinstance(data, dict):
        problems.append(Problem(source, 1, "(document)", "expected a mapping of fields at the top"))
        raise ValidationFailed(problems)
    try:
        document = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc, root, source, model))
        problems.sort(key=lambda p: p.line)
        raise ValidationFailed(_capped(problems)) from exc
    problems.extend(_plugin_problems(document, root, source))
    if problems:
        raise ValidationFailed(_capped(problems))
    return document


MAX_PROBLEMS = 50
"""Past this many, the rest are counted, not listed: nobody reads the 40,001st."""


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    last = problems[MAX_PROBLEMS - 1]
    more = len(problems) - MAX_PROBLEMS + 1
    return [
        *problems[: MAX_PROBLEMS - 1],
        Problem(last.file, last.line, "(file)", f"{more} more problems not shown"),
    ]


def _plugin_problems(document: BaseModel, root: yaml.Node | None, source: str) -> list[Problem]:
    """Bind a plugin fault's arguments to the plugin's signature, as chaoslib does for
    activities: a misspelt argument is an error now, not a silent no-op later."""
    fault = getattr(document, "fault", None)
    if getattr(fault, "type", None) != "plugin":
        return []
    from mlchaos.errors import InputError
    from mlchaos.faults.plugins import check_arguments

    try:
        why = check_arguments(fault.plugin, fault.arguments)  # type: ignore[union-attr]
    except InputError as exc:
        return [Problem(source, _line_of(root, ("fault", "plugin")), "fault.plugin", str(exc))]
    if why is None:
        return []
    return [Problem(source, _line_of(root, ("fault", "arguments")), "fault.arguments", why)]


def _compose(text: str) -> yaml.Node | None:
    return compose(text)[0]


def _problems(
    exc: ValidationError, root: yaml.Node | None, source: str, model: type[BaseModel]
) -> list[Problem]:
    problems = []
    errors = exc.errors()
    nested = {tuple(e["loc"][:-1]) for e in errors if len(e["loc"]) > 1}
    for index, error in enumerate(errors):
        loc = tuple(error["loc"])
        if error["type"] == "too_short" and any(n[: len(loc)] == loc for n in nested):
            continue  # the items themselves failed; that is the real problem
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and index >= MAX_PROBLEMS:
            message = "unknown field"  # not shown: no need to look for a close name
        elif error["type"] == "extra_forbidden":
            message = "unknown field" + _did_you_mean(str(loc[-1]), _siblings(model, loc[:-1]))
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "union_tag_invalid":
            tag = (error.get("ctx") or {}).get("tag")
            message = f"unknown type {tag!r}; {_expected(error)}"
        elif error["type"] == "string_pattern_mismatch":
            message = _pattern_message(error)
        elif error["type"] == "literal_error":
            message = f"{message}, got {error['input']!r}"
        problems.append(Problem(source, _line_of(root, loc), _dotted(root, loc), message))
    return problems


PATTERN_HINTS = {
    r"^[a-z0-9][a-z0-9._-]*$": (
        "is not a valid name: use lowercase letters, digits, '.', '_' and '-'"
    ),
    r"^[A-Za-z_:][A-Za-z0-9_:]*$": "is not a valid Prometheus alert name: use letters, digits, "
    "'_' and ':'",
    r"^https?://": "is not an http:// or https:// URL",
    r"^https://": "is not an https:// URL (the official PagerDuty client only speaks HTTPS)",
    r"^[A-Z_][A-Z0-9_]*$": "is not an environment variable name",
}


def _pattern_message(error: Any) -> str:
    pattern = (error.get("ctx") or {}).get("pattern", "")
    hint = PATTERN_HINTS.get(pattern, f"does not match {pattern}")
    return f"{error['input']!r} {hint}"


def _expected(error: Any) -> str:
    ctx = error.get("ctx") or {}
    return f"expected one of {ctx.get('expected_tags', '?')}"


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(choices))}"


def _siblings(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at ``loc`` inside ``model``, following nested model annotations."""
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [m for m in candidates if _tag(m) == part]
        if tagged:  # a discriminated union's tag, such as 'bad_version'
            candidates = tagged
            continue
        fields = candidates[0].model_fields if candidates else {}
        if part not in fields:
            return []
        candidates = _models_in(fields[part].annotation)
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    args = get_args(field.annotation) if field is not None else ()
    return args[0] if len(args) == 1 else None


def _walk(root: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int, list[str]]:
    """Follow ``loc`` through the YAML nodes: the line of the deepest part found, and the path.

    Parts absent from the YAML are skipped (union tags), except a last field name, which is
    named so that a missing or unknown field still says which one.
    """
    node, path = root, []
    line = int(root.start_mark.line) + 1 if root is not None else 1
    for part in loc:
        found = _child(node, part)
        if found is None:
            if (
                isinstance(node, yaml.MappingNode)
                and isinstance(part, str)
                and part == loc[-1]
                and part != _scalar(node, "type")  # a union tag, not a field
            ):
                path.append(part)
            continue
        line, node = found
        path.append(str(part))
    return line, path


def _child(node: yaml.Node | None, part: Any) -> tuple[int, yaml.Node] | None:
    """The line where ``part`` starts inside ``node``, and its value node."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        found = _keys(node).get(part)
        return (int(found[0].start_mark.line) + 1, found[1]) if found else None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return int(item.start_mark.line) + 1, item
    return None


@functools.lru_cache(maxsize=256)
def _keys(node: yaml.MappingNode) -> dict[Any, tuple[yaml.Node, yaml.Node]]:
    """The mapping's entries by key, built once per node (nodes hash by identity): problems in
    a mapping of 25,000 keys would otherwise each scan all of it."""
    index: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            index.setdefault(key.value, (key, value))
    return index


def _scalar(node: yaml.MappingNode, key: str) -> Any:
    for k, v in node.value:
        if k.value == key and isinstance(v, yaml.ScalarNode):
            return v.value
    return None


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    return _walk(root, loc)[0]


def _dotted(root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    path = _walk(root, loc)[1]
    return ".".join(path) or "(document)"


def _duplicate_keys(root: yaml.Node | None, source: str) -> list[Problem]:
    """Keys given twice in one mapping, each node visited once: an alias is a shared node,
    and following every alias would walk the whole expansion."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[Any] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in keys:
                    line = key.start_mark.line + 1
                    problems.append(Problem(source, line, str(key.value), "duplicate key"))
                keys.add(key.value if isinstance(key, yaml.ScalarNode) else id(key))
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    problems.sort(key=lambda p: p.line)
    return problems
