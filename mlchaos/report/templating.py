"""The Jinja2 environment every report renders with: the user's template directory first, then
the built-in templates, so any one template can be overridden by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from mlchaos.errors import InputError

__all__ = ["TEMPLATES", "environment", "render"]

TEMPLATES = Path(__file__).with_name("templates")


def environment(
    template_dir: Path | None = None, autoescape: bool = False, builtin: Path = TEMPLATES
) -> jinja2.Environment:
    """Templates from ``template_dir`` first, then the built-in ones in ``builtin``."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(builtin))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )
    env.filters["secs"] = lambda v: "—" if v is None else f"{v:.1f}s"
    return env


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render ``name``; a missing or broken user template is bad input, said in one line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise InputError(f"{name}: template: not found in {_searched(env)}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{exc.filename or name}:{exc.lineno}: template: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise InputError(f"{name}: template: {exc.message}") from exc


def _searched(env: jinja2.Environment) -> str:
    loader = env.loader
    assert isinstance(loader, jinja2.ChoiceLoader)
    dirs = [
        p
        for sub in loader.loaders
        if isinstance(sub, jinja2.FileSystemLoader)
        for p in sub.searchpath
    ]
    return ", ".join(dirs)
