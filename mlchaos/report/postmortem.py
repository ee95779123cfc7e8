"""Render ``postmortem.md`` from a Jinja2 template; users can override it from their own directory.

>>> render_postmortem(document, Path("reports/nightly-20260101-000000"))
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from mlchaos.engine.timeline import EVENTS
from mlchaos.engine.verdict import LABELS

TEMPLATES = Path(__file__).with_name("templates")
WIDTH = 48


def environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Templates from ``template_dir`` first, then the built-in ones."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(TEMPLATES))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["secs"] = lambda v: "—" if v is None else f"{v:.1f}s"
    return env


def render_postmortem(
    document: dict[str, Any],
    run_dir: Path,
    template_dir: Path | None = None,
    template: str = "postmortem.md.j2",
) -> Path:
    experiments = [_view(e) for e in document["experiments"]]
    text = (
        environment(template_dir)
        .get_template(template)
        .render(run=document, experiments=experiments, labels=LABELS)
    )
    path = run_dir / "postmortem.md"
    path.write_text(text)
    return path


def _view(exp: dict[str, Any]) -> dict[str, Any]:
    """What the template needs beyond results.json: offsets and a text timeline picture."""
    injected = exp["timeline"].get("injected")
    offsets = {}
    for event in EVENTS:
        at = exp["timeline"].get(event)
        offsets[event] = _seconds(injected, at) if injected and at else None
    return {**exp, "offsets": offsets, "picture": _picture(offsets, exp)}


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _picture(offsets: dict[str, float | None], exp: dict[str, Any]) -> str:
    """One row per event on a shared time axis; ┆ marks each event's target."""
    known = [v for v in offsets.values() if v is not None]
    targets = exp["targets_s"]
    span = max([*known, *targets.values(), 1.0])
    scale = WIDTH / span
    target_of = {
        "detected": "mttd",
        "paged": "time_to_page",
        "acknowledged": None,
        "mitigated": "mttm",
        "recovered": "mttr",
    }
    rows = []
    for event in EVENTS:
        value = offsets[event]
        line = [" "] * (WIDTH + 1)
        key = target_of.get(event)
        if key and key in targets:
            line[min(WIDTH, round(targets[key] * scale))] = "┆"
        if value is not None:
            position = min(WIDTH, max(0, round(value * scale)))
            for i in range(position):
                if line[i] == " ":
                    line[i] = "─"
            line[position] = "●"
            label = f"+{value:.1f}s"
        else:
            label = "never"
        rows.append(f"{event:<13}{''.join(line)}  {label}")
    rows.append(f"{'':<13}0{'':>{WIDTH - 1}}{span:.0f}s")
    return "\n".join(rows)
