"""Look at a report the way a reader does: in a real headless Chromium (Debian's `chromium`).

The page forbids scripts through its CSP; the copy we load gets one measuring script (and a CSP
that allows only it), which writes what is on screen into the DOM that Chromium dumps.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

MEASURE = """
<script>
addEventListener('load', () => {
  const box = el => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const visible = el => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0; };
  const out = {
    title: document.title,
    timelines: [...document.querySelectorAll('svg.timeline')].map(svg => ({
      box: box(svg),
      experiment: svg.closest('section').id,
      events: Object.fromEntries([...svg.querySelectorAll('g.event')].map(g => [
        g.dataset.event,
        {status: g.dataset.status,
         marker: g.querySelector('circle') ? visible(g.querySelector('circle')) : false,
         text: g.textContent.replace(/\\s+/g, ' ').trim()}])),
    })),
    charts: [...document.querySelectorAll('svg.sli')].map(svg => ({
      sli: svg.dataset.sli, drawn: !!svg.querySelector('polyline'), box: box(svg)})),
    trends: [...document.querySelectorAll('svg.trend')].map(svg => ({
      measure: svg.dataset.measure, box: box(svg),
      lines: [...svg.querySelectorAll('polyline')].filter(p => p.points.length > 1).length,
      dots: [...svg.querySelectorAll('circle')].filter(visible).length})),
    resources: performance.getEntriesByType('resource').length,
  };
  document.body.setAttribute('data-measured', JSON.stringify(out));
});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed: apt-get install chromium (.ci/run installs it)"
    return found


def measure(page: Path, work: Path) -> dict[str, Any]:
    """What Chromium laid out for ``page``: each timeline's size and events, each chart."""
    html = page.read_text()
    html = re.sub(
        r'<meta http-equiv="Content-Security-Policy"[^>]*>',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        html,
    )
    copy = work / "measured.html"
    copy.write_text(html.replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,900",
            "--virtual-time-budget=3000",
            "--dump-dom",
            copy.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r'data-measured="([^"]*)"', dom)
    assert found, f"Chromium did not lay the page out: {dom[:500]}"
    return dict(json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")))
