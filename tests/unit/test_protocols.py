"""Payload faults on every protocol the load speaks: each rewrites the body in its own shape,
keeps what it does not touch, and a body of another shape is refused, never half-changed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mlchaos.gateway.server import GatewayState, transform
from mlchaos.protocols import Codec, Unreadable
from tests.conftest import ROOT

BODIES = ROOT / "tests" / "fixtures" / "bodies"
IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def recorded(name: str) -> Any:
    return json.loads((BODIES / name).read_text())


CASES = {
    # name: (body file, codec)
    "oip-v2-tensor-mlserver": ("oip-v2-tensor-mlserver.json",
                               {"protocol": "oip-v2-tensor", "features": IRIS,
                                "tensor": "predict"}),
    "oip-v2-tensor-tritonclient": ("oip-v2-tensor-tritonclient.json",
                                   {"protocol": "oip-v2-tensor", "features": IRIS,
                                    "tensor": "INPUT0"}),
    "oip-v2-columns-pd": ("oip-v2-columns-mlserver-pd.json", {"protocol": "oip-v2-columns"}),
    "kserve-v1": ("kserve-v1-iris.json", {"protocol": "kserve-v1", "features": IRIS}),
    "json": ("json-applicant.json",
             {"protocol": "json", "features": ("sepal_length", "age", "tier"),
              "paths": {"sepal_length": "applicant.income", "age": "applicant.age",
                        "tier": "applicant.tier"}}),
}  # fmt: skip


def codec(spec: dict[str, Any]) -> Codec:
    return Codec(
        protocol=spec["protocol"],
        features=tuple(spec.get("features", ())),
        tensor=spec.get("tensor", "input-0"),
        paths=dict(spec.get("paths", {})),
    )


def lease(tmp_path: Path, kind: str, params: dict[str, Any], spec: dict[str, Any]) -> Any:
    state = GatewayState(tmp_path / "audit.jsonl")
    made, _ = state.inject(kind, {**params, "codec": spec}, 1.0, 3, 60, "test")
    return made


def values(spec: dict[str, Any], body: Any) -> dict[str, list[Any]]:
    return {c.name: c.values for c in codec(spec).decode(body)}


@pytest.mark.parametrize("case", CASES)
def test_a_body_read_and_written_back_unchanged_is_the_same_body(case: str) -> None:
    name, spec = CASES[case]
    body = recorded(name)
    assert codec(spec).rebuild(body, codec(spec).decode(body)) == body


@pytest.mark.parametrize("case", CASES)
def test_drop_removes_the_feature_in_the_bodys_own_shape(case: str, tmp_path: Path) -> None:
    name, spec = CASES[case]
    body = recorded(name)
    first = codec(spec).decode(body)[0].name
    changed = transform(lease(tmp_path, "schema_change", {"drop": [first]}, spec), body)
    assert first not in values(spec, changed) or spec["protocol"] in ("oip-v2-tensor", "kserve-v1")
    assert len(codec(spec).decode(changed)) == len(codec(spec).decode(body)) - 1
    if spec["protocol"] == "oip-v2-tensor":
        [tensor] = changed["inputs"]
        assert tensor["shape"][1] == len(IRIS) - 1  # the shape says so too
    untouched = {k: v for k, v in body.items() if k not in ("inputs", "instances", "applicant")}
    assert {k: changed[k] for k in untouched} == untouched  # id, parameters, outputs kept


@pytest.mark.parametrize("case", CASES)
def test_retype_makes_the_feature_strings(case: str, tmp_path: Path) -> None:
    name, spec = CASES[case]
    body = recorded(name)
    first = codec(spec).decode(body)[0]
    changed = transform(
        lease(tmp_path, "schema_change", {"retype": {first.name: "string"}}, spec), body
    )
    after = values(spec, changed)
    assert after[first.name] == [str(v) for v in first.values]
    if spec["protocol"].startswith("oip"):
        assert "BYTES" in {t["datatype"] for t in changed["inputs"]}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("value", ["null", "nan"])
def test_missing_features_blank_the_named_feature(case: str, value: str, tmp_path: Path) -> None:
    name, spec = CASES[case]
    body = recorded(name)
    columns = codec(spec).decode(body)
    target, other = columns[0], columns[1]
    changed = transform(
        lease(tmp_path, "missing_features", {"features": [target.name], "value": value}, spec),
        body,
    )
    after = values(spec, changed)
    blank = [v is None if value == "null" else math.isnan(v) for v in after[target.name]]
    assert all(blank) and len(blank) == len(target.values)
    assert after[other.name] == other.values


@pytest.mark.parametrize("case", [c for c in CASES if c != "json"])
def test_drift_shifts_and_scales_a_numeric_feature(case: str, tmp_path: Path) -> None:
    name, spec = CASES[case]
    body = recorded(name)
    target = codec(spec).decode(body)[1]
    changed = transform(
        lease(tmp_path, "data_drift", {"feature": target.name, "shift": 1.0, "scale": 2.0}, spec),
        body,
    )
    assert values(spec, changed)[target.name] == pytest.approx([v * 2 + 1 for v in target.values])


def test_category_mix_on_a_categorical_feature_of_a_json_body(tmp_path: Path) -> None:
    name, spec = CASES["json"]
    categories = {"gold": ["gold"], "silver": ["silver"], "bronze": ["bronze"]}
    mix = {"segment": "bronze", "share": 0.7, "bands": categories}
    made = lease(tmp_path, "data_drift", {"feature": "tier", "mix": mix}, spec)
    tiers = [transform(made, recorded(name))["applicant"]["tier"] for _ in range(2000)]
    assert 0.66 < tiers.count("bronze") / 2000 < 0.74
    assert set(tiers) == {"gold", "silver", "bronze"}


def test_rename_in_a_positional_body_changes_nothing_on_the_wire(tmp_path: Path) -> None:
    """A tensor carries no feature names: renaming one leaves the bytes as they were, which the
    gateway then reports as a body it could not rewrite (see test_gateway_proxy)."""
    name, spec = CASES["oip-v2-tensor-mlserver"]
    body = recorded(name)
    renamed = lease(tmp_path, "schema_change", {"rename": {"sepal_length": "sl"}}, spec)
    assert transform(renamed, body) == body


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        ({"protocol": "oip-v2-tensor", "tensor": "predict"}, {"inputs": [{"name": "x"}]}),
        ({"protocol": "oip-v2-tensor", "tensor": "predict"}, recorded("kserve-v1-iris.json")),
        ({"protocol": "kserve-v1"}, recorded("oip-v2-tensor-mlserver.json")),
        ({"protocol": "oip-v2-columns"}, [1, 2, 3]),
        ({"protocol": "json", "features": ("age",)}, [1, 2, 3]),
    ],
    ids=["no-data", "kserve-as-tensor", "tensor-as-kserve", "list-as-columns", "list-as-json"],
)
def test_a_body_of_another_shape_is_unreadable(spec: dict[str, Any], body: Any) -> None:
    with pytest.raises(Unreadable):
        codec(spec).decode(body)


@pytest.mark.parametrize("protocol", ["oip-v2-columns", "oip-v2-tensor", "kserve-v1", "json"])
def test_rows_encode_into_each_protocol_and_read_back(protocol: str) -> None:
    spec = {"protocol": protocol, "features": ("income", "age")}
    rows = [{"income": 52000.0, "age": 31.0}]
    body = codec(spec).encode(rows, request_id="r1")
    assert values(spec, body) == {"income": [52000.0], "age": [31.0]}
