"""The gateway's pure parts: deterministic selection, body transforms, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchaos.gateway.server import FaultError, GatewayState, transform

AGE_BANDS = {"young": [21, 29], "adult": [30, 75]}
"""Bands as the reference stack's service file gives them (the lease carries them)."""


def body() -> dict[str, object]:
    return {
        "inputs": [
            {"name": "income", "datatype": "FP64", "shape": [1], "data": [50000.0]},
            {"name": "age", "datatype": "FP64", "shape": [1], "data": [40.0]},
        ]
    }


def selections(state: GatewayState, lease_id: str, n: int) -> list[bool]:
    lease = state.leases[lease_id]
    return [lease.selects() for _ in range(n)]


def test_selection_is_deterministic_per_seed_and_near_the_share(tmp_path: Path) -> None:
    a = GatewayState(tmp_path / "a.jsonl")
    b = GatewayState(tmp_path / "b.jsonl")
    la, _ = a.inject("error_burst", {"status": 503}, share=0.2, seed=7, ttl_s=60, holder="t")
    lb, _ = b.inject("error_burst", {"status": 503}, share=0.2, seed=7, ttl_s=60, holder="t")
    first, second = selections(a, la.id, 2000), selections(b, lb.id, 2000)
    assert first == second
    assert 0.17 < sum(first) / 2000 < 0.23
    lc, _ = a.inject("error_burst", {"status": 503}, share=0.2, seed=8, ttl_s=60, holder="t")
    assert selections(a, lc.id, 2000) != first


def test_schema_change_renames_drops_and_retypes(tmp_path: Path) -> None:
    state = GatewayState(tmp_path / "a.jsonl")
    lease, _ = state.inject(
        "schema_change",
        {"rename": {"income": "annual_income"}, "retype": {"age": "string"}},
        1,
        0,
        60,
        "t",
    )
    changed = transform(lease, body())
    assert [t["name"] for t in changed["inputs"]] == ["annual_income", "age"]
    assert changed["inputs"][1]["data"] == ["40.0"] and changed["inputs"][1]["datatype"] == "BYTES"
    dropped, _ = state.inject("schema_change", {"drop": ["age"]}, 1, 0, 60, "t")
    assert [t["name"] for t in transform(dropped, body())["inputs"]] == ["income"]


def test_drift_and_missing_values(tmp_path: Path) -> None:
    state = GatewayState(tmp_path / "a.jsonl")
    drift, _ = state.inject(
        "data_drift", {"feature": "income", "shift": 1000.0, "scale": 2.0}, 1, 0, 60, "t"
    )
    assert transform(drift, body())["inputs"][0]["data"] == [101000.0]
    missing, _ = state.inject(
        "missing_features", {"features": ["age"], "value": "null"}, 1, 0, 60, "t"
    )
    assert transform(missing, body())["inputs"][1]["data"] == [None]


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("meteor", {}, "unknown fault type 'meteor'"),
        ("schema_change", {}, "schema_change with params {} would change nothing"),
        ("latency_spike", {"delay_s": 0}, "would change nothing"),
        ("data_drift", {"feature": "income", "shift": 0}, "would change nothing"),
    ],
)
def test_injections_that_would_do_nothing_are_refused(
    tmp_path: Path, kind: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(FaultError, match=message):
        GatewayState(tmp_path / "a.jsonl").inject(kind, params, 1, 0, 60, "t")


def test_an_answer_fault_applies_only_to_the_versions_it_is_on(tmp_path: Path) -> None:
    """A latency spike or an error burst is a fault of the versions that served when it went
    in: once the team serves another (its fallback, a rollback), clients no longer see it,
    while the lease stays in until it is reverted."""

    state = GatewayState(tmp_path / "a.jsonl")
    lease, _ = state.inject("error_burst", {"status": 503, "versions": ["v2"]}, 0.5, 0, 60, "t")
    assert lease.on_version("v2")
    assert not lease.on_version("fallback-v1")
    assert lease.why_not == "answers came from fallback-v1, not v2"
    assert not lease.on_version(None)
    unscoped, _ = state.inject("latency_spike", {"delay_s": 0.1}, 1.0, 0, 60, "t")
    assert unscoped.on_version(None) and unscoped.on_version("anything")
    assert [e["action"] for e in state.audit()] == ["inject", "inject"]


def test_concept_drift_flips_only_labels_of_requests_made_while_it_held(tmp_path: Path) -> None:
    from mlchaos.gateway.server import flip_labels, mark_request

    state = GatewayState(tmp_path / "a.jsonl")
    lease, _ = state.inject("concept_drift", {}, 1.0, 0, 60, "t")
    mark_request(b'{"id": "after-1", "inputs": []}', lease)
    labels = {"labels": [{"id": "before-1", "label": 1}, {"id": "after-1", "label": 1}]}
    flipped, count = flip_labels(labels, lease)
    assert count == 1
    assert flipped["labels"] == [{"id": "before-1", "label": 1}, {"id": "after-1", "label": 0}]


def test_category_mix_makes_the_segment_that_share_of_requests(tmp_path: Path) -> None:
    state = GatewayState(tmp_path / "a.jsonl")
    lease, _ = state.inject(
        "data_drift",
        {"feature": "age", "mix": {"segment": "young", "share": 0.6, "bands": AGE_BANDS}},
        1.0,
        3,
        60,
        "t",
    )
    ages = [transform(lease, body())["inputs"][1]["data"][0] for _ in range(2000)]
    young = sum(age < 30 for age in ages) / len(ages)
    assert 0.56 < young < 0.64
    assert all(21 <= age <= 75 for age in ages)


def test_a_fault_it_could_not_rewrite_says_why_it_is_not_active() -> None:
    from mlchaos.faults.targets.gateway import _not_applied

    lease = {"applied": 0, "unrewritten": 40, "why_not": "the request body is not JSON"}
    assert _not_applied(lease, 5) == (
        "the gateway could not apply it to any of the 40 request(s) it selected in 5s: "
        "the request body is not JSON"
    )
    assert _not_applied({"applied": 0}, 5) == "the gateway applied it to no request in 5s"


def test_each_gateway_fault_is_one_module_and_the_server_names_none() -> None:
    """Both halves of a gateway fault live in its module; the server only dispatches."""
    import inspect

    from mlchaos.gateway import contract, server, state

    assert contract.KNOWN
    for kind in contract.KNOWN:
        fault = contract.behaviour(kind)
        module = inspect.getmodule(type(fault))
        assert module is not None and module.__name__ == f"mlchaos.faults.{kind}"
        assert type(fault).stage in contract.STAGES
        assert module.FAULT.on_request is fault and module.FAULT.type == kind
    for dispatcher in (server, state):
        source = inspect.getsource(dispatcher)
        named = [kind for kind in contract.KNOWN if f'"{kind}"' in source]
        assert not named, f"{dispatcher.__name__} names {named}"
    with pytest.raises(contract.FaultError, match="unknown fault type 'flag_flip'"):
        contract.behaviour("flag_flip")
