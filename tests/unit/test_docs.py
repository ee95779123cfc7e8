"""The documentation: the site builds with `mkdocs build --strict` (no broken link, missing
anchor or stale generated reference), and the README stays a first visit's length."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

README_LINES = 250


def test_the_site_builds_strictly_with_its_generated_reference(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "mlchaos compile" in cli and "--report-dir" in cli  # from the commands themselves
    fields = (tmp_path / "site" / "reference" / "experiment" / "index.html").read_text()
    assert "served_below" in fields and "LatencySpikeFault" in fields  # from the schema


def test_a_generated_page_fails_the_build_when_its_link_breaks(tmp_path: Path) -> None:
    """The strict build can fail: a page linking to one that does not exist stops it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n[gone](nowhere.md)\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: t\ndocs_dir: {docs}\nstrict: true\n")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "-f", str(config), "--site-dir", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode != 0 and "nowhere.md" in done.stdout + done.stderr


def test_the_readme_opens_with_the_two_commands_and_stays_short() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_LINES
    first_block = text.split("```")[1]
    assert "make gameday" in first_block and "make test" in first_block


def test_the_readmes_burn_rate_table_is_the_arithmetic() -> None:
    """The README's table of profiles is what `mlchaos.burnrate.detection_time` computes."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from docs_hooks import burnrates_page

    text = (ROOT / "README.md").read_text()
    shown = text.split("<!-- burnrates -->\n")[1].split("\n<!-- /burnrates -->")[0]
    assert shown == burnrates_page(None)
