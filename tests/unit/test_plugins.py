"""A third-party fault through the real entry-point machinery, checked when it loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlchaos.ctk.actions import inject_fault, revert_faults
from mlchaos.ctk.probes import fault_active
from mlchaos.errors import ValidationFailed
from mlchaos.faults import plugins
from mlchaos.journal import EventRecord, FaultActive, Journal
from mlchaos.loader import parse_document
from mlchaos.schema import Experiment
from tests.conftest import FIXTURES
from tests.unit.test_compile import SERVICE

PLUGIN_DIR = FIXTURES / "plugins"


@pytest.fixture(autouse=True)
def installed_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture directory holds a dist-info with an entry point, as pip would install it."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


def experiment(arguments: str) -> str:
    return f"""version: 1
name: flag
fault:
  type: plugin
  plugin: flag_flip
  arguments: {arguments}
steady_state:
  - {{name: errors, query: "vector(0)", below: 0.01}}
expect:
  detection: {{alert: FlagFlipped, within: 5s}}
"""


def test_plugin_is_discovered_by_entry_point() -> None:
    assert "flag_flip" in plugins.available()


def test_arguments_are_bound_to_the_plugin_signature_at_validation() -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_document(experiment("{flagg: x, value: true, store: s}"), Experiment, "e.yaml")
    [problem] = failed.value.problems
    assert (problem.line, problem.field) == (6, "fault.arguments")
    assert problem.message == "unknown argument 'flagg'; did you mean 'flag'?"
    with pytest.raises(ValidationFailed) as missing:
        parse_document(experiment("{flag: x, store: s}"), Experiment, "e.yaml")
    assert missing.value.problems[0].message == (
        "missing a required argument: 'value'; flag_flip takes: flag, value, store"
    )


def test_unknown_plugin_names_what_is_installed() -> None:
    text = experiment("{}").replace("flag_flip", "nope")
    with pytest.raises(ValidationFailed) as failed:
        parse_document(text, Experiment, "e.yaml")
    [problem] = failed.value.problems
    assert (problem.line, problem.field) == (5, "fault.plugin")
    assert "no fault plugin 'nope'" in problem.message and "flag_flip" in problem.message


def injected(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The example plugin's flag flipped in a store under ``tmp_path``: its fault, the
    service and the configuration, as Chaos Toolkit passes them."""
    store = tmp_path / "flags.json"
    document = parse_document(
        experiment(f"{{flag: ranker, value: true, store: '{store}'}}"), Experiment, "e.yaml"
    )
    configuration = {"mlchaos_journal": str(tmp_path / "j.jsonl")}
    fault = document.fault.model_dump(mode="json")
    service = SERVICE.model_dump(mode="json")
    inject_fault(fault, service, configuration)
    return fault, service, configuration


def test_plugin_fault_injects_confirms_and_reverts_through_the_journal(tmp_path: Path) -> None:
    from mlchaos_example_plugin import read_flags  # type: ignore[import-not-found]

    store, (fault, service, configuration) = tmp_path / "flags.json", injected(tmp_path)
    assert fault_active(fault, service, configuration) is True
    [live] = Journal(tmp_path / "j.jsonl").of(FaultActive)  # the effect it saw, on record
    assert (live.active, live.evidence) == (True, "readers of the store see ranker=True")
    assert read_flags(store)["ranker"]["value"] is True
    [ended] = revert_faults(configuration)
    assert ended["action"] == "unset" and read_flags(store) == {}
    events = [r.event for r in Journal(tmp_path / "j.jsonl").of(EventRecord)]
    assert events == ["injected", "reverted"]


# Issue 17: a plugin that only says "True" shows a lease, not an effect: never live.
def test_a_plugin_that_names_no_effect_never_makes_its_fault_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlchaos_example_plugin import FlagFlip  # type: ignore[import-not-found]

    monkeypatch.setattr(plugins, "CONFIRM_S", 0.3)
    monkeypatch.setattr(FlagFlip, "confirm", lambda self, journal, service: True)
    fault, service, configuration = injected(tmp_path)
    assert fault_active(fault, service, configuration) is False
    [dead] = Journal(tmp_path / "j.jsonl").of(FaultActive)
    assert dead.evidence.startswith("plugin flag_flip's confirm said True without naming")
    revert_faults(configuration)
