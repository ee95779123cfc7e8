"""The version-mismatch fraction: how much of the traffic the bad version answered, read from
the answers themselves, and shown in the reports."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from mlchaos.gateway.server import Outcomes, answered_by
from mlchaos.observe.versions import fraction, off_since, on_since
from tests.unit.test_reports import document, rendered


def test_the_fraction_counts_only_answers_in_the_window_that_carried_a_version() -> None:
    rows = [(99, "v3-inverted", 50), (100, "v3-inverted", 30), (100, "v2", 10), (101, "v2", 60)]
    assert fraction(rows, "v3-inverted", 100, 102) == (0.3, 100)
    assert fraction(rows, "v3-inverted", 200, 300) == (None, 0)


def test_mitigation_is_the_first_second_the_bad_share_fell_below_and_stayed() -> None:
    bad = [(100, "3", 40), (101, "3", 30), (101, "1", 10), (102, "1", 40), (103, "1", 40)]
    # 101 is 75% version 3: the share fell below 5% at 102, and it has held for 2 whole seconds
    assert off_since(bad, "3", 100, now=104.5, below=0.05, stays_for_s=2) == 102.0
    assert off_since(bad, "3", 100, now=103.5, below=0.05, stays_for_s=2) is None  # not yet held
    relapse = [*bad, (104, "3", 20), (104, "1", 20)]
    assert off_since(relapse, "3", 100, now=105.5, below=0.05, stays_for_s=0) is None
    # the second under way is not judged: it may still bring answers from the bad version
    assert (
        off_since([*bad, (104, "3", 40)], "3", 100, now=104.5, below=0.05, stays_for_s=2) == 102.0
    )


def test_seconds_without_answers_say_nothing_and_no_answers_is_no_mitigation() -> None:
    assert off_since([], "3", 100, now=200, below=0.05, stays_for_s=1) is None
    gap = [(100, "3", 40), (105, "1", 1), (106, "1", 1)]  # nothing answered from 101 to 104
    assert off_since(gap, "3", 100, now=107.2, below=0.05, stays_for_s=2) == 105.0
    # a few answers of the bad version among many good ones stay below the threshold
    trickle = [(100, "3", 40), (101, "3", 1), (101, "1", 99), (102, "1", 100)]
    assert off_since(trickle, "3", 100, now=103.1, below=0.05, stays_for_s=2) == 101.0


def test_the_gateway_reads_the_version_from_the_header_or_the_oip_answer() -> None:
    assert answered_by(web.Response(body=b"{}", headers={"x-model-version": "v2"})) == "v2"
    mlserver = {"model_name": "iris", "model_version": "3", "outputs": []}
    assert answered_by(web.Response(body=json.dumps(mlserver).encode())) == "3"
    assert answered_by(web.Response(body=b'{"predictions": [1]}')) is None
    assert (
        answered_by(web.Response(body=b"\x1f\x8b...", headers={"Content-Encoding": "gzip"})) is None
    )


def test_outcomes_keep_versions_per_second() -> None:
    now = [100.0]
    outcomes = Outcomes(clock=lambda: now[0])
    outcomes.count(200, "v2")
    outcomes.count(200, "v3")
    now[0] = 101.0
    outcomes.count(503, None)
    now[0] = 101.5
    outcomes.count(200, "v2")
    now[0] = 101.75
    outcomes.count(200, "v2")
    assert outcomes.versions_since(100) == [
        [100, "v2", 1, 100.0, 100.0], [100, "v3", 1, 100.0, 100.0],
        [101, "v2", 2, 101.5, 101.75],
    ]  # fmt: skip
    assert outcomes.since(100) == [[100, 2, 2], [101, 3, 2]]
    assert outcomes.codes_since(100) == [[100, 200, 2], [101, 200, 2], [101, 503, 1]]
    assert outcomes.serving() == ["v2"]  # v3 answered a second ago: it serves no more
    now[0] = 120.0
    assert outcomes.serving() == []  # nothing answered for 10 s: nothing is known to serve


# Issue 17: MLflow's mitigation was stamped at the injection, before the version ever served.
def test_a_version_never_seen_answering_was_never_taken_out_of_service() -> None:
    still_old = [(100, "2", 40), (101, "2", 40), (102, "2", 40), (103, "2", 40)]
    assert off_since(still_old, "3", 100.5, now=104.5, below=0.05, stays_for_s=2) is None
    deployed_late = [*still_old, (104, "3", 40), (105, "2", 40), (106, "2", 40), (107, "2", 40)]
    assert off_since(deployed_late, "3", 100.5, now=107.5, below=0.05, stays_for_s=2) == 105.0


def test_a_fallback_counts_once_it_answers_and_its_answers_are_good() -> None:
    rows = [(100, "v2", 40), (101, "v2", 10), (101, "fb", 30), (102, "fb", 40), (103, "fb", 40)]
    good = {100: True, 101: True, 102: True, 103: True}
    assert on_since(rows, {"fb"}, 100, now=104.2, at_least=0.95, stays_for_s=2) == 102.0
    assert on_since(rows, {"fb"}, 100, 104.2, 0.95, 2, serving=good) == 102.0
    answering_404 = {100: True, 101: False, 102: False, 103: False}
    assert on_since(rows, {"fb"}, 100, 104.2, 0.95, 0, serving=answering_404) is None
    already_on = [(100, "fb", 40), (101, "fb", 40), (102, "fb", 40)]
    assert on_since(already_on, {"fb"}, 100, now=103.5, at_least=0.95, stays_for_s=1) is None


def test_the_postmortem_says_how_much_the_bad_version_answered(tmp_path: Path) -> None:
    doc = document()
    doc["experiments"][0]["version_mismatch"] = {
        "version": "v3-inverted", "fraction": 0.42, "answered": 1200,
        "source": "gateway: each answer's x-model-version header or OIP model_version",
    }  # fmt: skip
    files = rendered(tmp_path, doc)
    assert (
        "Version `v3-inverted` answered 42% of the 1200 requests answered" in files["postmortem.md"]
    )
    assert "answered 42% of 1200 requests" in files["report.html"]
