"""Runbooks: one Jinja2 markdown template per failure mode, rendered with a service's real
endpoints, queries and commands.

A template declares its steps in YAML, inside the template so that commands carry the real URLs,
and then renders its sections from them (`_runbook.md.j2` holds the shared sections):

    {% import "_runbook.md.j2" as section with context %}
    {% set runbook | runbook %}
    title: ...
    steps: [{name: ..., run: "curl {{ service.gateway_url }}/...", automated: true}]
    {% endset %}
    {{ section.steps_section(runbook) }}

>>> books = render_runbooks(service)
>>> write_runbooks(books, Path("oncall"))
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from mlchaos.errors import InputError, Problem, ValidationFailed
from mlchaos.loader import parse_document
from mlchaos.report.templating import environment
from mlchaos.rules import RUNBOOK_OF, RuleSettings, alert_rules
from mlchaos.runbooks.actions import ACTIONS
from mlchaos.schema.runbook import RunbookSpec
from mlchaos.service import Service

__all__ = [
    "BLOCK",
    "TEMPLATES",
    "Runbook",
    "commands",
    "render_runbooks",
    "runbook_for",
    "runbook_names",
    "write_runbooks",
]

TEMPLATES = Path(__file__).with_name("templates")
BLOCK = "{% set runbook | runbook %}"


@dataclass(frozen=True)
class Runbook:
    name: str
    spec: RunbookSpec
    text: str


def runbook_names(template_dir: Path | None = None) -> list[str]:
    """Every failure mode with a template: the built-in ones and any in ``template_dir``."""
    dirs = [TEMPLATES] + ([template_dir] if template_dir else [])
    return sorted({p.name.removesuffix(".md.j2") for d in dirs for p in d.glob("[!_]*.md.j2")})


def render_runbooks(
    service: Service, settings: RuleSettings | None = None, template_dir: Path | None = None
) -> dict[str, Runbook]:
    """Every runbook rendered for ``service``; its alerts are the rules `mlchaos rules` makes."""
    settings = settings or RuleSettings(model=service.model)
    env = _environment(template_dir)
    rules = _rules(settings)
    books = {}
    for name in runbook_names(template_dir):
        books[name] = _render(
            env,
            service=service,
            rules=rules,
            name=name,
            actions=ACTIONS,
            commands=commands(service),
        )
        unknown = [a for a in books[name].spec.alerts if a not in rules]
        if unknown:
            raise InputError(f"runbooks/{name}.md.j2: alerts: no rule named {', '.join(unknown)}")
    return books


def write_runbooks(books: dict[str, Runbook], out_dir: Path) -> list[Path]:
    """``NAME.md`` per runbook, and ``index.md`` mapping each alert to its runbook."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for book in books.values():
        path = out_dir / f"{book.name}.md"
        path.write_text(book.text)
        paths.append(path)
    lines = ["# Runbooks", "", "| alert | runbook |", "|---|---|"]
    for book in books.values():
        lines += [
            f"| `{alert}` | [{book.spec.title}]({book.name}.md) |" for alert in book.spec.alerts
        ]
    index = out_dir / "index.md"
    index.write_text("\n".join(lines) + "\n")
    return [index, *paths]


def runbook_for(
    incident: dict[str, Any], books: dict[str, Runbook], prefix: str = ""
) -> Runbook | None:
    """The runbook an incident links to (as on-call would click it), else the one for its alert."""
    for link in incident.get("links") or []:
        stem = Path(urllib.parse.urlparse(str(link.get("href", ""))).path).name.removesuffix(".md")
        if stem in books:
            return books[stem]
    alert = str((incident.get("custom_details") or {}).get("alertname", "")).removeprefix(prefix)
    return next((b for b in books.values() if alert in b.spec.alerts), None)


def commands(service: Service) -> dict[str, str]:
    """The exact shell commands runbooks give on-call, for this service's endpoints.

    They read ``$ALERT``, ``$MODEL`` and ``$VERSION`` from the environment (on-call exports
    them from the alert's labels, and game days set them from the incident), and ``$ACTOR``,
    who is acting, for the audit log (``on-call`` when unset; ``mlchaos-responder`` when a game
    day's simulated responder runs the step). The registry and fallback commands exist only
    for the reference registry's API; other services give their own (``action:`` steps run the
    service file's hooks).
    """
    gateway, json_body = service.gateway_url, "-H 'content-type: application/json'"

    def post(url: str, body: str) -> str:
        return f"curl -fsS -X POST {url} {json_body} \\\n  -d '{body}'"

    who = '"actor": "\'"${ACTOR:-on-call}"\'", "reason": "runbook: \'"$ALERT"\'"'
    found = {
        "served_version": f"curl -fsS {gateway}/v2/models/{service.model}",
        "faults": f"curl -fsS {gateway}/admin/faults",
    }
    if service.registry_url is not None and service.adapters.registry == "mlchaos":
        model = f"{service.registry_url}/v1/models/{service.model}"
        found["registry"] = f"curl -fsS {model}"
        found["rollback"] = post(
            f"{model}/rollback", f'{{{who}, "from_version": "\'"$VERSION"\'"}}'
        )
        found["retrain"] = post(f"{model}/retrain", f"{{{who}}}")
        found["fallback"] = post(f"{model}/fallback", f'{{"enabled": true, {who}}}')
        found["primary"] = post(f"{model}/fallback", f'{{"enabled": false, {who}}}')
        found["route"] = f"curl -fsS {model}/audit | tail -c 400"
    return found


def _rules(settings: RuleSettings) -> dict[str, dict[str, Any]]:
    """Each generated rule by its unprefixed name, with its summary in plain words."""
    rules = {}
    for rule in alert_rules(settings)["groups"][0]["rules"]:
        name = rule["alert"].removeprefix(settings.alert_prefix)
        meaning = re.sub(r"\{\{ \$labels\.(\w+) \}\}", r"<\1>", rule["annotations"]["summary"])
        rules[name] = {**rule, "meaning": re.sub(r"\{\{ \$value[^}]*\}\}", "<value>", meaning)}
    assert set(rules) == set(RUNBOOK_OF), "every rule names its runbook"
    return rules


def _render(env: jinja2.Environment, **context: Any) -> Runbook:
    name = context["name"]
    source = f"runbooks/{name}.md.j2"
    try:
        template = env.get_template(f"{name}.md.j2")
        module = template.make_module(context)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{exc.filename or source}:{exc.lineno}: template: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise InputError(f"{source}: template: {exc.message}") from exc
    spec = getattr(module, "runbook", None)
    if not isinstance(spec, RunbookSpec):
        raise InputError(f"{source}:1: runbook: declare the steps in a `{BLOCK}` block")
    return Runbook(name, spec, str(module).lstrip())


def _environment(template_dir: Path | None) -> jinja2.Environment:
    env = environment(template_dir, builtin=TEMPLATES)
    env.filters["runbook"] = jinja2.pass_context(_parse_block)
    env.filters["graph"] = jinja2.pass_context(_graph_url)
    return env


def _graph_url(context: jinja2.runtime.Context, expr: str) -> str:
    """A link to ``expr`` in the Prometheus UI over the last 30 minutes."""
    query = urllib.parse.urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": "30m"})
    return f"{context['service'].prometheus_url}/graph?{query}"


def _parse_block(context: jinja2.runtime.Context, text: str) -> RunbookSpec:
    """Validate the template's YAML block; problems point at the template's own lines."""
    name = f"{context['name']}.md.j2"
    assert context.environment.loader is not None
    lines = context.environment.loader.get_source(context.environment, name)[0].splitlines()
    start = next((i for i, line in enumerate(lines, 1) if BLOCK in line), 0)
    try:
        return parse_document(str(text), RunbookSpec, source=f"runbooks/{name}")
    except ValidationFailed as failed:
        raise ValidationFailed(
            [
                Problem(p.file, p.line + start, f"runbook.{p.field}", p.message)
                for p in failed.problems
            ]
        ) from failed
