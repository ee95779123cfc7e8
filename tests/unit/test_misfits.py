"""Names an experiment gives that only the service file can supply (a bad build's variant, a
segment) are checked against it before anything runs: `file:line: field: message`, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchaos.errors import ValidationFailed
from mlchaos.loader import load_experiment, load_service, misfits
from mlchaos.schema import Experiment
from tests.conftest import ROOT

HERE = ROOT / "tests" / "fixtures" / "misfit"
SERVICE = load_service(HERE / "service.yaml")
TAIL = """steady_state:
  - {name: errors, query: "vector(0)", below: 0.01}
expect:
  detection: {alert: ModelHighErrorRate, within: 5s}
"""


def experiment(tmp_path: Path, fault: str) -> Path:
    path = tmp_path / "e.yaml"
    path.write_text(f"version: 1\nname: e\nfault: {fault}\n{TAIL}")
    return path


def assert_refused(tmp_path: Path, fault: str, field: str, message: str) -> None:
    """Loading an experiment with ``fault`` is refused at its line with exactly ``message``."""
    path = experiment(tmp_path, fault)
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(path, SERVICE)
    assert [str(p) for p in failed.value.problems] == [f"{path}:3: {field}: {message}"]


def test_an_unknown_variant_is_reported_at_its_line() -> None:
    path = HERE / "bad-variant.yaml"
    expected = path.read_text().splitlines()[0].split(": ", 1)[1]
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(path, SERVICE)
    assert [str(p).replace(str(ROOT) + "/", "") for p in failed.value.problems] == [expected]


def test_dependency_faults_name_what_the_service_file_declares(tmp_path: Path) -> None:
    cases = {
        "{type: dependency, dependency: redis, mode: outage}": (
            "fault.dependency", "the service file's dependencies name no 'redis' (it has cache, "
            "feature-store)"),
        "{type: dependency, dependency: cache, mode: stale, feature_view: x}": (
            "fault.mode", "stale needs dependencies.cache.feast: which project and views it holds"),
        "{type: dependency, dependency: feature-store, mode: stale, feature_view: activity}": (
            "fault.feature_view", "dependencies.feature-store.feast.views names no 'activity' "
            "(it has customer_profile)"),
    }  # fmt: skip
    for fault, (field, message) in cases.items():
        assert_refused(tmp_path, fault, field, message)
    fits = ("{type: dependency, dependency: feature-store, mode: stale, "
            "feature_view: customer_profile}")
    assert misfits(load_experiment(experiment(tmp_path, fits), SERVICE), SERVICE) == []


def test_a_secret_rotation_names_a_user_whose_secret_the_service_file_keeps(
    tmp_path: Path,
) -> None:
    cases = {
        "{type: secret_rotation, dependency: redis, user: scorer}": (
            "fault.dependency", "the service file's dependencies name no 'redis' (it has cache, "
            "feature-store)"),
        "{type: secret_rotation, dependency: cache, user: scorer}": (
            "fault.user", "dependencies.cache.secrets names no 'scorer' (it has none): where its "
            "password is kept, and the team's propagation step"),
    }  # fmt: skip
    for fault, (field, message) in cases.items():
        assert_refused(tmp_path, fault, field, message)
    fits = "{type: secret_rotation, dependency: feature-store, user: scorer}"
    assert misfits(load_experiment(experiment(tmp_path, fits), SERVICE), SERVICE) == []


def test_a_process_fault_names_a_process_of_the_service_file(tmp_path: Path) -> None:
    assert_refused(tmp_path, "{type: process, process: mlserver, action: kill}", "fault.process",
                   "the service file's processes name no 'mlserver' (it has model-server)")
    fits = "{type: process, process: model-server, action: cpu_starve}"
    assert misfits(load_experiment(experiment(tmp_path, fits), SERVICE), SERVICE) == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("{type: process, process: p, action: cpu_starve, scope: worker}",
         "scope is for action kill, not cpu_starve"),
        ("{type: dependency, dependency: cache, mode: stale}",
         "a stale dependency names its feature_view"),
        ("{type: dependency, dependency: cache, mode: outage, feature_view: v}",
         "feature_view is for mode stale, not outage"),
        ("{type: dependency, dependency: cache, mode: outage, delay: 1s}",
         "delay is for mode slow, not outage"),
    ],
)  # fmt: skip
def test_a_dependency_fault_says_what_its_mode_needs(
    tmp_path: Path, fault: str, message: str
) -> None:
    path = experiment(tmp_path, fault)
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(path)
    assert message in str(failed.value.problems[0]), failed.value.problems


@pytest.mark.parametrize(
    ("fault", "field", "message"),
    [
        (
            "{type: data_drift, mix: {elderly: 40%}}",
            "fault.mix",
            "the service file's segments name no 'elderly' (it has young, adult)",
        ),
        (
            "{type: segment_regression, segment: adult}",
            "fault.segment",
            "the service file's versions.segment names no 'adult' (it has young)",
        ),
    ],
)
def test_unknown_segments_are_reported(
    tmp_path: Path, fault: str, field: str, message: str
) -> None:
    path = experiment(tmp_path, fault)
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(path, SERVICE)
    assert [str(p) for p in failed.value.problems] == [f"{path}:3: {field}: {message}"]


@pytest.mark.parametrize(
    "fault",
    [
        "{type: bad_version, variant: constant}",
        "{type: data_drift, mix: {adult: 90%}}",
        "{type: segment_regression, segment: young}",
        "{type: latency_spike, delay: 1s}",
    ],
)
def test_faults_that_fit_the_service_have_no_misfits(tmp_path: Path, fault: str) -> None:
    loaded: Experiment = load_experiment(experiment(tmp_path, fault), SERVICE)
    assert misfits(loaded, SERVICE) == []


def test_without_a_service_only_the_schema_is_checked() -> None:
    assert load_experiment(HERE / "bad-variant.yaml").fault.type == "bad_version"


def test_a_bad_version_names_a_variant_or_a_registry_version_never_both(tmp_path: Path) -> None:
    from mlchaos.faults.bad_version import version_of

    named = load_experiment(experiment(tmp_path, '{type: bad_version, version: "3"}'), SERVICE)
    assert version_of(named.fault, SERVICE) == "3"  # type: ignore[arg-type]
    default = load_experiment(experiment(tmp_path, "{type: bad_version}"), SERVICE)
    assert version_of(default.fault, SERVICE) == "v3-inverted"  # type: ignore[arg-type]
    both = experiment(tmp_path, '{type: bad_version, variant: inverted, version: "3"}')
    with pytest.raises(ValidationFailed, match=r"give 'variant'.* or 'version', not both"):
        load_experiment(both, SERVICE)


def test_a_service_without_a_pager_is_valid_but_no_experiment_may_expect_pages(
    tmp_path: Path,
) -> None:
    text = (HERE / "service.yaml").read_text()
    unpaged = "\n".join(line for line in text.splitlines() if not line.startswith("pagerduty:"))
    (tmp_path / "service.yaml").write_text(unpaged + "\n")
    service = load_service(tmp_path / "service.yaml")
    assert not service.has_pager
    quiet = experiment(tmp_path, "{type: error_burst}")
    load_experiment(quiet, service)  # no paging expected: fine
    paged = tmp_path / "paged.yaml"
    paged.write_text(quiet.read_text() + "  paging: {service: oncall, within: 10s}\n")
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(paged, service)
    [problem] = failed.value.problems
    assert (problem.line, problem.field) == (8, "expect.paging")
    assert problem.message == "the service file names no pager (pagerduty:), so nothing can page"


def test_a_pii_canary_needs_the_service_files_privacy_section(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("version: 1\nname: e\nfault: {type: pii_canary}\nsteady_state:\n"
                    '  - {name: errors, query: "vector(0)", below: 0.01}\n'
                    "expect: {privacy: {search_for: 5s}}\n")  # fmt: skip
    with pytest.raises(ValidationFailed) as failed:
        load_experiment(path, SERVICE)
    assert [str(p) for p in failed.value.problems] == [
        f"{path}:3: fault.type: the service file has no 'privacy' section: where requests carry "
        "personal data (fields) and where data lands (sinks)"
    ]
