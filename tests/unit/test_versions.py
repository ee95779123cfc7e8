"""The version-mismatch fraction: how much of the traffic the bad version answered, read from
the answers themselves, and shown in the reports."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from mlchaos.gateway.server import Outcomes, answered_by
from mlchaos.observe.versions import fraction
from tests.unit.test_reports import document, rendered


def test_the_fraction_counts_only_answers_in_the_window_that_carried_a_version() -> None:
    rows = [(99, "v3-inverted", 50), (100, "v3-inverted", 30), (100, "v2", 10), (101, "v2", 60)]
    assert fraction(rows, "v3-inverted", 100, 102) == (0.3, 100)
    assert fraction(rows, "v3-inverted", 200, 300) == (None, 0)


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
    assert outcomes.versions_since(100) == [[100, "v2", 1], [100, "v3", 1]]
    assert outcomes.since(100) == [[100, 2, 2], [101, 1, 0]]


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
