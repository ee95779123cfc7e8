"""PII canaries: fake values that belong to no one and name their run, a search that finds them
in every form a system writes them (and nothing that merely looks alike), and a verdict that
fails on any find and never passes on a place it could not search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mlchaos.engine import verdict
from mlchaos.faults.pii_canary import with_canaries
from mlchaos.journal import parse_record
from mlchaos.observe import privacy
from mlchaos.observe.privacy import canaries, luhn_digit, search_files, search_labels, search_text
from mlchaos.schema import Experiment
from mlchaos.schema.service import Privacy, PrivacySink
from tests.unit.test_verdict import FLOOR, HEALTHY_BEFORE, event

MARKER = "a3f9c2e1"
KINDS: list[Any] = ["email", "card_number", "national_id"]


def luhn_ok(number: str) -> bool:
    return luhn_digit(number[:-1]) == number[-1]


def test_canary_values_are_fake_by_construction_and_unique_to_their_run() -> None:
    values = [c for n in range(200) for c in canaries(MARKER, n, KINDS)]
    emails = [c.value for c in values if c.kind == "email"]
    cards = [c.value for c in values if c.kind == "card_number"]
    ids = [c.value for c in values if c.kind == "national_id"]
    assert all(e.endswith("@pii-canary.invalid") and MARKER in e for e in emails)
    assert all(len(c) == 16 and c.startswith("4000") and luhn_ok(c) for c in cards)
    assert all(i[0] == "9" and len(i) == 11 and i[3] == i[6] == "-" for i in ids)  # 9xx area
    assert len(set(emails)) == len(set(cards)) == 200  # one per request
    other = {c.value for n in range(200) for c in canaries("0badc0de", n, KINDS)}
    assert not other & {c.value for c in values if c.kind != "national_id"}
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_a_value_is_found_in_the_forms_systems_write_it_and_nothing_alike() -> None:
    email, card, national = canaries(MARKER, 3, KINDS)
    grouped = " ".join(card.value[i:i + 4] for i in range(0, 16, 4))
    planted = [email, card, national]
    text = json.dumps({"card": grouped, "to": email.value.replace("@", "%40"),
                       "id": national.value.replace("-", "")})  # fmt: skip
    found = {(f.kind, f.value) for f in search_text("answers", "answer 1", text, planted, MARKER)}
    assert found == {("card_number", card.value), ("email", email.value),
                     ("national_id", national.value)}  # fmt: skip
    # The same digits inside a longer number, a hash of the value, another run's marker: none.
    near = f"9{card.value}0 {national.value.replace('-', '')}7 sha256=ab12 mlchaos-canary-0badc0de"
    assert search_text("answers", "answer 1", near, planted, MARKER) == []
    # The marker alone, cut from its value and re-cased, still names the run.
    [cut] = search_text("answers", "answer 1", f"MLCHAOS-CANARY-{MARKER.upper()}-00", planted,
                        MARKER)  # fmt: skip
    assert cut.kind == "marker"


def test_a_file_is_searched_across_reads_with_lines_and_never_reports_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "CHUNK", 64)  # every value straddles some read's end
    planted = [c for n in range(3) for c in canaries(MARKER, n, KINDS)]
    lines = [f"line {i} secret-neighbour-{i} " + "x" * (i * 7 % 50) for i in range(200)]
    lines[57] += f" raw={planted[1].value}"
    lines[142] += f" {{'email': '{planted[3].value}'}}"
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text("\n".join(lines) + "\n")
    sink = PrivacySink(files=("logs/*.log",))
    searched = search_files("model-server-log", sink, tmp_path, planted, MARKER)
    assert searched.error is None
    assert [(f.where, f.kind, f.value) for f in searched.finds] == [
        (f"{log} line 58", "card_number", planted[1].value),
        (f"{log} line 143", "email", planted[3].value),
    ]
    assert "secret-neighbour" not in json.dumps(searched.as_dict())
    assert searched.read.startswith("1 file(s)")


def test_a_place_that_matches_no_file_cannot_be_searched(tmp_path: Path) -> None:
    planted = canaries(MARKER, 0, KINDS)
    sink = PrivacySink(files=("inference/*.jsonl",))
    searched = search_files("inference-log", sink, tmp_path, planted, MARKER)
    assert searched.error == "inference/*.jsonl matches no file" and searched.finds == []


def test_label_values_are_searched() -> None:
    planted = canaries(MARKER, 0, KINDS)
    labels = {"job": ["fraud"], "customer": ["17", planted[0].value]}
    searched = search_labels("metrics", labels, planted, MARKER)
    assert [(f.where, f.kind) for f in searched.finds] == [("label customer", "email")]
    assert searched.read == "2 labels, 3 values"


def test_canaries_go_where_the_service_file_says_requests_carry_personal_data() -> None:
    spec = Privacy(fields={"parameters.card_number": "card_number", "customer.email": "email"},
                   sinks={"log": PrivacySink(files=("a.log",))})  # fmt: skip
    body = {"parameters": {"content_type": "np"}, "inputs": [{"name": "x", "data": [1]}]}
    changed = with_canaries(body, spec, MARKER, 4)
    email, card = canaries(MARKER, 4, ["email", "card_number"])
    assert changed["parameters"] == {"content_type": "np", "card_number": card.value}
    assert changed["customer"] == {"email": email.value}
    assert body == {"parameters": {"content_type": "np"}, "inputs": [{"name": "x", "data": [1]}]}


PII = {
    "version": 1, "name": "pii", "fault": {"type": "pii_canary", "requests": 3},
    "steady_state": [{"name": "errors", "query": "errors", "below": 0.1}],
    "expect": {"privacy": {"search_for": "5s"}},
}  # fmt: skip


def test_a_pii_canary_and_its_privacy_expectation_go_together() -> None:
    Experiment.model_validate(PII)
    with pytest.raises(ValidationError, match="a pii_canary expects 'privacy'"):
        Experiment.model_validate({**PII, "expect": {"detection": {"alert": "A", "within": "5s"}}})
    bad = {**PII, "fault": {"type": "latency_spike", "delay": "1s"},
           "expect": {"detection": {"alert": "A", "within": "5s"}, "privacy": {}}}  # fmt: skip
    with pytest.raises(ValidationError, match="a pii_canary expects 'privacy'"):
        Experiment.model_validate(bad)
    with pytest.raises(ValidationError, match="exactly one of 'files'"):
        PrivacySink(files=("a.log",), prometheus="label_values")


def searched(**sinks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "privacy", "marker": MARKER, "started": "2026-01-01T00:00:01+00:00",
            "ended": "2026-01-01T00:00:06+00:00", "searches": 3,
            "sinks": [{"sink": name, **s} for name, s in sinks.items()]}  # fmt: skip


def judged(*extra: dict[str, Any]) -> verdict.ExperimentResult:
    records = [*HEALTHY_BEFORE, event("injected", 0),
               {"type": "fault_active", "active": True, "evidence": "3 of 3 answered 2xx"},
               *extra, event("reverted", 7, actor="mlchaos", party="mlchaos")]  # fmt: skip
    return verdict.judge(Experiment.model_validate(PII), [parse_record(r) for r in records], FLOOR)


def test_nothing_found_anywhere_searched_passes() -> None:
    result = judged(searched(answers={"read": "3 answer(s)"}, log={"read": "1 file(s), 2 KB"}))
    assert result.verdict == "pass", result.reasons
    assert result.privacy is not None and result.privacy["found"] == 0
    assert "a PII canary changes nothing to recover from" in result.notes[0]


def test_a_find_fails_naming_the_place_and_the_line() -> None:
    find = {"sink": "log", "where": "/var/log/app.log line 58", "kind": "card_number",
            "value": "4000123456780005"}  # fmt: skip
    result = judged(searched(answers={}, log={"read": "1 file(s)", "finds": [find, find]}))
    assert result.verdict == "fail"
    assert result.reasons == ["privacy: 2 canary value(s) (card_number) found in log, the first "
                              "4000123456780005 at /var/log/app.log line 58"]  # fmt: skip


def test_a_place_not_searched_is_never_a_pass() -> None:
    result = judged(searched(answers={}, metrics={"error": "Prometheus did not answer"}))
    assert result.verdict == "inconclusive"
    assert result.reasons == ["privacy: metrics could not be searched: Prometheus did not answer"]
    result = judged()  # the search never ran
    assert result.verdict == "inconclusive"
    assert result.reasons == ["privacy: the places data lands were never searched"]


def test_a_canary_lease_left_open_by_a_kill_9_is_ended_by_recover_holding_nothing(
    tmp_path: Path,
) -> None:
    """What `mlchaos recover` runs on a journal whose runner died right after the canaries."""
    from mlchaos.faults.leases import open_leases, record_granted, record_intent, revert_all
    from mlchaos.faults.pii_canary import TARGET
    from mlchaos.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl")
    intent = record_intent(journal, TARGET, undo="nothing to put back", marker=MARKER)
    record_granted(journal, intent, "abc", "2026-01-01T00:01:00+00:00")
    [ended] = revert_all(journal)
    assert ended["action"].startswith("nothing held: the canaries were requests")
    assert open_leases(journal) == []
