"""Each public module keeps one sorted `__all__` whose names all exist."""

from __future__ import annotations

import importlib

import pytest

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
    assert exported == sorted(exported)
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
