"""The rules in ARCHITECTURE.md, checked on the source: imports point down the layers, the
core never imports the reference stack, and importing mlchaos loads none of the extra."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "mlchaos"

LAYERS = (
    {"errors", "reading", "vocabulary", "protocols", "access"},
    {"schema"},
    {"service", "journal", "hooks", "rundir"},
    {"observe", "load", "gateway", "receiver", "rules", "burnrate", "faults"},
    {"loader", "runbooks", "report", "ctk"},
    {"engine"},
    {"cli", "pytest_plugin", "__init__", "__main__"},
)
"""Lowest first: a module imports from its own layer or below, never above."""
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
EDGES = {"cli", "pytest_plugin"}
"""They compose the reference stack when no service file is given: only inside functions."""
EXTRA = ("sklearn", "numpy", "fastapi", "uvicorn", "cryptography")


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield ".".join(path.relative_to(ROOT).with_suffix("").parts), path


def part_of(module: str) -> str:
    """``mlchaos.engine.run`` is in ``engine``; ``mlchaos`` itself in ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__init__" else "__init__"


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """Every mlchaos module ``path`` imports: name, line, and whether at module level."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name == "mlchaos" or name.startswith("mlchaos."):
                yield name, node.lineno, id(node) in top


def is_reference(name: str) -> bool:
    return name == "mlchaos.reference" or name.startswith("mlchaos.reference.")


def test_every_package_has_a_layer() -> None:
    unplaced = {part_of(m) for m, _ in modules()} - set(RANK) - {"reference"}
    assert not unplaced, f"place {unplaced} in a layer of LAYERS and ARCHITECTURE.md"


def test_the_core_never_imports_the_reference_stack() -> None:
    found = []
    for module, path in modules():
        part = part_of(module)
        if part == "reference":
            continue
        for name, line, at_top in imports(path):
            if is_reference(name) and (part not in EDGES or at_top):
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    assert found == []


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, path in modules():
        part = part_of(module)
        if part == "reference":
            continue
        for name, line, _ in imports(path):
            target = part_of(name)
            if target in RANK and RANK[target] > RANK[part]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {part} imports {target}")
    assert upward == []


@pytest.mark.parametrize("entry", ["mlchaos", "mlchaos.cli", "mlchaos.pytest_plugin"])
def test_importing_mlchaos_loads_nothing_of_the_reference_stack(entry: str) -> None:
    probe = (
        f"import sys, {entry}\n"
        "print(sorted(m for m in sys.modules if m.startswith('mlchaos.reference')"
        f" or m.split('.')[0] in {EXTRA!r}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.strip() == "[]"


def test_a_deliberate_upward_import_is_caught(tmp_path: Path) -> None:
    """The checks above can fail: an engine import inside a fault is flagged."""
    fault = tmp_path / "sneaky.py"
    fault.write_text("def f():\n    from mlchaos.engine.run import run_experiment\n")
    [(name, line, at_top), _] = list(imports(fault))
    assert (name, line, at_top) == ("mlchaos.engine.run", 2, False)
    assert RANK[part_of(name)] > RANK["faults"]
