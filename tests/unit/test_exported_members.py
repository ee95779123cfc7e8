"""Every module declares its public face in one sorted `__all__`: each name it lists exists,
and each public function, class and constant it defines is listed (or named with a ``_``)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODULES = sorted(p for p in (ROOT / "mlchaos").rglob("*.py") if p.name != "__main__.py")
CONSTANT = re.compile(r"[A-Z][A-Z0-9_]+")
"""A constant; one capital alone is a type variable."""


def _ordered(names: list[str]) -> list[str]:
    """The order ruff keeps ``__all__`` in (RUF022): CONSTANTS, then Classes, then the rest."""

    def group(name: str) -> int:
        return 0 if CONSTANT.fullmatch(name) else 1 if name[:1].isupper() else 2

    return sorted(names, key=lambda n: (group(n), n))


def _bound(tree: ast.Module) -> tuple[set[str], set[str], list[str] | None]:
    """Names bound at the top of a module, those it defines in public, and its ``__all__``."""
    bound: set[str] = set()
    defined: set[str] = set()
    exported = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            defined.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (t.id for t in targets if isinstance(t, ast.Name)):
                bound.add(name)
                if name == "__all__":
                    exported = list(ast.literal_eval(node.value)) if node.value else None
                elif CONSTANT.fullmatch(name):
                    defined.add(name)
        elif isinstance(node, ast.If):  # ``if TYPE_CHECKING:`` imports
            for inner in node.body:
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    bound.update((a.asname or a.name).split(".")[0] for a in inner.names)
    return bound, {n for n in defined if not n.startswith("_")}, exported


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_declares_a_sorted_complete_all(path: Path) -> None:
    bound, defined, exported = _bound(ast.parse(path.read_text()))
    assert exported is not None, "declare __all__"
    assert exported == _ordered(exported)
    assert set(exported) <= bound, set(exported) - bound
    assert defined <= set(exported), f"public but not in __all__: {defined - set(exported)}"


PUBLIC = [
    "mlchaos",
    "mlchaos.schema",
    "mlchaos.ctk.actions",
    "mlchaos.ctk.probes",
    "mlchaos.ctk.control",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == _ordered(exported)
    for member in exported:
        assert hasattr(module, member), member


def test_import_connects_to_nothing_and_reads_no_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    import sys

    for loaded in [m for m in sys.modules if m.startswith("mlchaos")]:
        monkeypatch.delitem(sys.modules, loaded)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("import mlchaos opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("MLCHAOS_STATE_DIR", "/nonexistent")
    importlib.import_module("mlchaos")
