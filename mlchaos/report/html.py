"""``report.html``: one self-contained page, with an SVG timeline and SLI charts per experiment.

>>> render_html(view, Path("reports/nightly-20260101-000000"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlchaos.report import svg
from mlchaos.report.templating import environment, render
from mlchaos.vocabulary import LABELS

__all__ = ["render_html"]


def render_html(
    view: dict[str, Any], out_dir: Path, template_dir: Path | None = None,
    trends: list[dict[str, Any]] | None = None,
) -> Path:  # fmt: skip
    """``view`` is a run view (see `mlchaos.report.view.run_view`); ``trends``, charts of the
    service's run history (`mlchaos.report.render`)."""
    experiments = [_pictures(e) for e in view["experiments"]]
    page = render(
        environment(template_dir, autoescape=True),
        "report.html.j2",
        run=view,
        experiments=experiments,
        labels=LABELS,
        trends=trends or [],
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def _pictures(exp: dict[str, Any]) -> dict[str, Any]:
    series = exp["series"]
    charts = [svg.chart(sli, exp["offsets"], series) for sli in series.get("slis", [])]
    return {**exp, "timeline_svg": svg.timeline(exp), "charts": charts}
