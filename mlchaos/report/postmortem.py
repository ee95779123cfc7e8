"""Render ``postmortem.md`` from a Jinja2 template.

Two templates ship: ``sre`` (the Google SRE book's sections, the default) and ``pagerduty``
(PagerDuty's postmortem template). Any template can be overridden from a user's directory by
its file name, e.g. ``postmortem-sre.md.j2``.

>>> render_postmortem(view, Path("reports/nightly-20260101-000000"), style="pagerduty")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlchaos.report.picture import text_timeline
from mlchaos.report.templating import environment, render
from mlchaos.vocabulary import LABELS

__all__ = ["STYLES", "render_postmortem"]

STYLES = ("sre", "pagerduty")


def render_postmortem(
    view: dict[str, Any], out_dir: Path, template_dir: Path | None = None, style: str = "sre"
) -> Path:
    """``view`` is a run view (see `mlchaos.report.view.run_view`)."""
    experiments = [{**e, "picture": text_timeline(e)} for e in view["experiments"]]
    text = render(
        environment(template_dir),
        f"postmortem-{style}.md.j2",
        run=view,
        experiments=experiments,
        labels=LABELS,
    )
    path = out_dir / "postmortem.md"
    path.write_text(text)
    return path
