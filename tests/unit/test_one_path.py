"""One way through the engine: each experiment's preflight runs once, and its journal is
read once after the run, whichever entry point ran it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlchaos.engine import run as engine
from mlchaos.journal import Journal
from mlchaos.loader import load_service
from tests.conftest import FIXTURES
from tests.unit.test_verdict import EXPERIMENT, FLOOR

SERVICE = load_service(FIXTURES / "misfit" / "service.yaml")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The chaos run itself stubbed out; preflights and journal reads counted."""
    calls = {"preflight": 0, "read": 0}

    def preflight(*_: Any) -> Any:
        calls["preflight"] += 1
        return FLOOR

    read = Journal.read

    def counting_read(self: Journal) -> Any:
        calls["read"] += 1
        return read(self)

    @contextmanager
    def no_guards(*_: Any) -> Iterator[None]:
        yield

    monkeypatch.setattr(engine, "preflight", preflight)
    monkeypatch.setattr(engine, "watching", no_guards)
    monkeypatch.setattr(engine, "_chaos_run", lambda *_: None)
    monkeypatch.setattr(engine, "_revert_leftovers", lambda *_: None)
    monkeypatch.setattr(Journal, "read", counting_read)
    return calls


def test_a_run_measures_its_floor_once_and_reads_its_journal_once(
    counted: dict[str, int], tmp_path: Path
) -> None:
    result = engine.run_experiment(EXPERIMENT, SERVICE, tmp_path)
    assert counted == {"preflight": 1, "read": 1}
    assert result.floor_s == FLOOR.of("mttd")


def test_a_preflight_already_done_is_not_done_again(
    counted: dict[str, int], tmp_path: Path
) -> None:
    checked = engine.check_preflight(EXPERIMENT, SERVICE)  # as run_gameday does, for all
    engine.run_experiment(EXPERIMENT, SERVICE, tmp_path, checked)
    assert counted == {"preflight": 1, "read": 1}
