"""The team's own traffic: a dataset (JSON lines, CSV or Parquet) encoded in the service's
protocol, or ready request bodies; a malformed file is `file:line: field: message` before any
load starts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlchaos.errors import ValidationFailed
from mlchaos.load.payload import first_request, prepare, read_bodies, read_payload
from mlchaos.protocols import Codec

ROWS = [
    {"amount": 12.5, "tier": "gold", "label": 0},
    {"amount": 80.0, "tier": "silver", "label": 1},
]


def sent(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_csv_parquet_and_json_lines_read_the_same_rows(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("amount,tier,label\n12.5,gold,0\n80,silver,1\n")
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    flat = tmp_path / "rows.jsonl"
    flat.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    nested = tmp_path / "nested.jsonl"
    nested.write_text("".join(
        json.dumps({"features": {k: v for k, v in r.items() if k != "label"},
                    "label": r["label"]}) + "\n" for r in ROWS))  # fmt: skip
    readings = [read_payload(p) for p in (csv, parquet, flat, nested)]
    assert all(r == readings[0] for r in readings)
    assert [(r.features, r.label) for r in readings[0]] == [
        ({"amount": 12.5, "tier": "gold"}, 0.0),
        ({"amount": 80.0, "tier": "silver"}, 1.0),
    ]


def test_a_dataset_is_encoded_in_the_services_protocol(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    codec = Codec("oip-v2-tensor", ("tier", "amount"), tensor="predict")
    out = prepare(codec, tmp_path / "payload.jsonl", dataset=data)
    first = sent(out)[0]
    assert first == {  # one tensor, one datatype: text in it makes it all BYTES
        "body": {"inputs": [{"name": "predict", "datatype": "BYTES", "shape": [1, 2],
                             "data": [["gold", "12.5"]]}]},
        "label": 0.0,
    }  # fmt: skip
    assert first_request(codec, data, None) == first["body"]


def test_each_feature_has_its_oip_datatype_from_the_dataset_or_declared(tmp_path: Path) -> None:
    """A category is BYTES (with MLServer's string content type), a number FP64, and the
    request carries the parameters the service file gives (MLServer's pd codec)."""
    data = tmp_path / "rows.csv"
    data.write_text("amount,plan,zip,label\n12.5,basic,02139,0\n80,,10001,1\n")
    codec = Codec("oip-v2-columns", datatypes={"zip": "BYTES"}, parameters={"content_type": "pd"})
    bodies = [line["body"] for line in sent(prepare(codec, tmp_path / "p.jsonl", dataset=data))]
    assert bodies[0] == {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "amount", "datatype": "FP64", "shape": [1], "data": [12.5]},
            {"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["basic"],
             "parameters": {"content_type": "str"}},
            {"name": "zip", "datatype": "BYTES", "shape": [1], "data": ["02139"],
             "parameters": {"content_type": "str"}},
        ],
    }  # fmt: skip
    # typed over the whole dataset: an empty category is still text, never FP64 in one request
    plan = {"name": "plan", "datatype": "BYTES", "shape": [1], "data": [""],
            "parameters": {"content_type": "str"}}  # fmt: skip
    assert bodies[1]["inputs"][1] == plan


def test_ready_bodies_are_sent_as_they_are(tmp_path: Path) -> None:
    bodies = tmp_path / "requests.jsonl"
    bodies.write_text('{"instances": [[1, 2]]}\n\n{"instances": [[3, 4]]}\n')
    out = prepare(Codec("kserve-v1"), tmp_path / "payload.jsonl", bodies=bodies)
    assert sent(out) == [
        {"body": {"instances": [[1, 2]]}, "label": None},
        {"body": {"instances": [[3, 4]]}, "label": None},
    ]
    assert read_bodies(bodies)[1] == {"instances": [[3, 4]]}


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("bad.jsonl", '{"amount": 1}\n{"amount": \n', "bad.jsonl:2: (row): not a JSON object"),
        ("bad.jsonl", '{"amount": true}\n', "bad.jsonl:1: features.amount: expected a finite"),
        ("bad.jsonl", '{"amount": 1, "label": "yes"}\n', "bad.jsonl:1: label: expected a number"),
        ("bad.csv", "amount,label\n1,0\n2,0,9\n", "bad.csv:3: (row): not a JSON object or a whole"),
        ("empty.csv", "amount,label\n", "empty.csv:1: (file): no rows"),
        ("bad.parquet", "not parquet", "bad.parquet:1: (file): not Parquet"),
    ],
)
def test_a_malformed_dataset_says_where(tmp_path: Path, name: str, text: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValidationFailed) as failed:
        read_payload(path)
    assert str(failed.value.problems[0]).replace(f"{tmp_path}/", "").startswith(problem)


def test_a_row_without_a_feature_the_protocol_places_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"amount": 1.0}\n')
    with pytest.raises(ValidationFailed, match=r"rows.jsonl:1: features.tier: the service"):
        prepare(Codec("kserve-v1", ("amount", "tier")), tmp_path / "p.jsonl", dataset=data)
