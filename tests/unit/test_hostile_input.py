"""Whatever a file holds, validation answers in bounded time with `file:line: field: message`.

Each case here once hung, took minutes, or ended in a traceback (issue 8's corpus). There is
no timing assertion: a regression shows as a test that does not finish, which pytest's caller
bounds, or as the wrong message.
"""

# ruff: noqa: E501  (expected messages are clearer kept whole on one line)
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlchaos.errors import ValidationFailed
from mlchaos.loader import load_any, load_experiment, load_scenario, load_service
from mlchaos.reading import MAX_BYTES, MAX_DEPTH, MAX_NODES
from mlchaos.schema.units import format_duration, parse_duration
from tests.conftest import FIXTURES

GOOD = (FIXTURES / "experiments" / "good.yaml").read_text()


def problems(path: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        load_any(path)
    return [str(p) for p in failed.value.problems]


def alias_bomb(levels: int, per_level: int = 9) -> str:
    lines = ["a0: &a0 [" + ",".join(["x"] * per_level) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * per_level) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [8, 9])
def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels))
    assert len(path.read_bytes()) < 600
    [message] = problems(path)
    assert message.startswith(f"{path}:")
    assert message.endswith(f"(yaml): aliases expand the document to more than {MAX_NODES} nodes")


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        GOOD.replace("steady_state:\n", "steady_state:\n  - &slo {name: e2, query: q, below: 1}\n")
        + "x-copy: *slo\n"
    )
    assert problems(path) == [f"{path}:10: x-copy: unknown field; allowed: " + ", ".join(
        sorted(["version", "name", "title", "description", "fault", "steady_state", "expect",
                "min_traffic_rps", "min_success", "give_up_after", "stop_when"])
    )]  # fmt: skip


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "self.yaml"
    path.write_text("a: &a [*a]\n")
    assert problems(path) == [f"{path}:1: (yaml): an alias refers to itself"]


def test_unknown_keys_are_counted_not_listed(tmp_path: Path) -> None:
    """25,000 keys fit under the size limit; reporting them is linear (it was quadratic)."""
    path = tmp_path / "keys.yaml"
    path.write_text(GOOD + "".join(f"k{i}: 1\n" for i in range(25_000)))
    found = problems(path)
    assert len(found) == 50
    assert found[0] == f"{path}:9: k0: unknown field; allowed: " + ", ".join(
        sorted(["version", "name", "title", "description", "fault", "steady_state", "expect",
                "min_traffic_rps", "min_success", "give_up_after", "stop_when"])
    )  # fmt: skip
    assert found[-1] == f"{path}:58: (file): 24951 more problems not shown"


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "# " + "x" * MAX_BYTES + "\n")
    size = path.stat().st_size
    assert problems(path) == [f"{path}:0: (file): {size} bytes is over the {MAX_BYTES} limit"]


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert problems(path) == [f"{path}:0: (file): not a regular file (a pipe, device or directory)"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path) == [
        f"{tmp_path}:0: (file): not a regular file (a pipe, device or directory)"
    ]


@pytest.mark.parametrize(
    ("content", "line", "byte"),
    [
        (bytes([0xB6, 0x01, 0xFF, 0x00]) * 50, 1, "0xb6"),
        ("version: 1\nname: x\n".encode("utf-16"), 1, "0xff"),
        ("version: 1\nname: café\n".encode("latin-1"), 2, "0xe9"),
    ],
    ids=["binary", "utf-16", "latin-1"],
)
def test_text_that_is_not_utf8_is_named(
    tmp_path: Path, content: bytes, line: int, byte: str
) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(content)
    assert problems(path) == [
        f"{path}:{line}: (file): not UTF-8 text: byte {byte}; save the file as UTF-8"
    ]


def test_control_characters_are_named(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"version: 1\nname: x\x00\n")
    assert problems(path) == [f"{path}:2: (yaml): the file holds control characters; is it text?"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 50_000])
def test_deep_flow_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * depth + "]" * depth + "\n")
    [message] = problems(path)
    assert message.startswith(f"{path}:1: (yaml): ")
    assert "nest" in message


def test_deep_block_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("".join(" " * i + f"k{i}:\n" for i in range(200)))
    assert problems(path) == [
        f"{path}:{MAX_DEPTH + 1}: (yaml): nested deeper than {MAX_DEPTH} levels"
    ]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("within: 5s", "within: .inf"), "expect.detection.within",
         "a duration must be a finite number of seconds, got inf"),
        (("within: 5s", "within: 99999h"), "expect.detection.within",
         "a duration must be at most 7 days (604800s), got '99999h'"),
        (("within: 5s", "within: 30h"), "expect.detection.within",
         "Input should be less than or equal to 86400"),
        (("below: 0.01", "below: .nan"), "steady_state.0.below", "Input should be a finite number"),
    ],
    ids=["inf-target", "absurd-target", "target-over-a-day", "nan-bound"],
)  # fmt: skip
def test_non_finite_and_absurd_values_are_refused(
    tmp_path: Path, change: tuple[str, str], field: str, message: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(GOOD.replace(*change))
    assert [m.split(": ", 1)[1] for m in problems(path)] == [f"{field}: {message}"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("{type: latency_spike, delay: 1000h}",
         "fault.delay: a duration must be at most 7 days (604800s), got '1000h'"),
        ("{type: latency_spike, delay: 11m}", "fault.delay: Input should be less than or equal to 600"),
        ("{type: data_drift, feature: income, scale: .inf}", "fault.scale: Input should be a finite number"),
        ("{type: data_drift, feature: income, shift: 1e9sigma}",
         "fault.shift: expected a shift such as 0.5sigma or -1sigma, got '1e9sigma'"),
        ("{type: data_drift, feature: income, shift: 1000sigma}",
         "fault.shift: a shift must be between -100 and 100 sigma, got '1000sigma'"),
    ],
    ids=["delay-1000h", "delay-11m", "scale-inf", "shift-exponent", "shift-absurd"],
)  # fmt: skip
def test_fault_parameters_are_bounded(tmp_path: Path, fault: str, message: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(GOOD.replace("{type: bad_version, variant: crashing}", fault))
    assert [m.split(": ", 1)[1] for m in problems(path)] == [message]


def test_an_absurd_scenario_rate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\nname: s\nexperiments: [good.yaml]\nload: {rate: 1e12}\n")
    with pytest.raises(ValidationFailed) as failed:
        load_scenario(path)
    assert [str(p) for p in failed.value.problems] == [
        f"{path}:4: load.rate: Input should be less than or equal to 100000"
    ]


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("{workers: 65}", "load.workers: Input should be less than or equal to 64"),
        ("{remote_workers: 2}",
         "load: remote_workers need master: a host:port they can reach, "
         "e.g. 0.0.0.0:5557"),
        ("{remote_workers: 2, master: 'no port'}",
         "load.master: expected host:port, e.g. 0.0.0.0:5557, got 'no port'"),
    ],
    ids=["too-many-workers", "remote-without-master", "master-without-port"],
)  # fmt: skip
def test_load_workers_are_bounded_and_remote_ones_need_an_address(
    tmp_path: Path, load: str, message: str
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    path = tmp_path / "s.yaml"
    path.write_text(f"version: 1\nname: s\nexperiments: [good.yaml]\nload: {load}\n")
    with pytest.raises(ValidationFailed) as failed:
        load_scenario(path)
    assert [str(p) for p in failed.value.problems] == [f"{path}:4: {message}"]


@pytest.mark.parametrize("seconds", [1234.5678, 0.001, 0.5, 86399.999999, 604800.0, 1e-5])
def test_durations_round_trip_exactly(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_compiled_durations_are_lossless(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        GOOD.replace(
            "{type: bad_version, variant: crashing}", "{type: latency_spike, delay: 234.5678}"
        )
    )
    fault = load_experiment(path).fault
    assert fault.model_dump(mode="json")["delay"] == "234.5678s"


SERVICE = """version: 1
name: svc
model: m
endpoints:
  gateway: {gateway}
  prometheus: http://127.0.0.1:9090
  alertmanager: http://127.0.0.1:9093
pagerduty: {{service: oncall}}
traffic_query: q
"""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("'http://[::1'", "'http://[::1' is not a valid URL: Invalid IPv6 URL"),
        ("http://127.0.0.1:99999", "'http://127.0.0.1:99999' is not a valid URL: Port out of range 0-65535"),
        ("'http://my host:80'", "'http://my host:80' is not a valid URL: it contains spaces or control characters"),
        ("http://", "'http://' is not a valid URL: it names no host"),
    ],
    ids=["ipv6-unclosed", "port-99999", "space", "no-host"],
)  # fmt: skip
def test_service_file_urls_are_checked(tmp_path: Path, url: str, message: str) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(SERVICE.format(gateway=url))
    with pytest.raises(ValidationFailed) as failed:
        load_service(path)
    assert [str(p) for p in failed.value.problems] == [f"{path}:5: endpoints.gateway: {message}"]


def test_validate_knows_a_service_file_by_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(SERVICE.format(gateway="http://127.0.0.1:8000"))
    assert load_any(path) == "service"
    path.write_text(
        SERVICE.format(gateway="http://127.0.0.1:8000").replace("traffic_query: q\n", "")
    )
    assert problems(path) == [f"{path}:1: traffic_query: required field is missing"]
