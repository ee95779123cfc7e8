"""``results.json``: the contract CI and users' scripts read (see DESIGN.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "write_results"]

SCHEMA_VERSION = 1


def write_results(document: dict[str, Any], run_dir: Path) -> Path:
    path = run_dir / "results.json"
    path.write_text(
        json.dumps({"schema_version": SCHEMA_VERSION, **document}, indent=2, default=str) + "\n"
    )
    return path
