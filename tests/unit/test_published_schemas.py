"""The JSON Schemas mlchaos publishes: equal to its models, and true of every shipped file.

Each check runs the real ``check-jsonschema``, as an editor's language server or a team's CI
would, on the committed ``schemas/*.schema.json``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlchaos.reference import service as reference
from mlchaos.reference.config import StackConfig
from mlchaos.runbooks.catalogue import render_runbooks
from mlchaos.schema.published import KINDS, json_schema, schema_text
from tests.conftest import FIXTURES, ROOT, SCHEMAS, check_jsonschema

EXPERIMENTS = sorted(
    [*ROOT.glob("experiments/*.yaml"), *ROOT.glob("examples/*/experiments/*.yaml"),
     *(FIXTURES / "experiments").glob("*.yaml"), FIXTURES / "misfit" / "bad-variant.yaml"]
)  # fmt: skip
SCENARIOS = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("examples/*/scenario.yaml")])
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)

# Bad fixtures whose defect is one of shape (a key, a type, a pattern, a missing field): an
# editor must flag them too. The rest (a share over 100% written as text, two bounds at once)
# only mlchaos's validators can see, and `mlchaos validate` is the authority.
REJECTED_BY_SHAPE = (
    "bad-alert-name", "bad-duration", "bad-mitigation", "bad-name", "bad-share", "bad-sigma",
    "empty-steady-state", "error-status-not-5xx", "gateway-field-typo", "latency-without-delay",
    "missing-features-empty", "mitigation-retrain", "not-a-mapping",
    "unknown-fault", "unknown-field",
)  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_the_committed_schema_is_the_models(kind: str) -> None:
    """`schemas/` is what `mlchaos schema` prints: a model change without it fails here."""
    committed = (SCHEMAS / f"{kind}.schema.json").read_text()
    fix = f"run: mlchaos schema {kind} --out schemas/{kind}.schema.json"
    assert committed == schema_text(kind), fix


def test_mlchaos_schema_prints_it_and_it_is_valid_json_schema(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "schema", "experiment"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json_schema("experiment")
    program = Path(sys.executable).with_name("check-jsonschema")
    meta = subprocess.run(
        [str(program), "--check-metaschema", *map(str, sorted(SCHEMAS.glob("*.json")))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert meta.returncode == 0, meta.stdout + meta.stderr


def test_fields_carry_their_descriptions() -> None:
    mitigation = json_schema("experiment")["$defs"]["Mitigation"]["properties"]
    assert "read from the answers" in mitigation["by"]["description"]
    duration = mitigation["within"]["anyOf"]
    assert {"type": "string", "pattern": duration[1]["pattern"]} == duration[1]
    assert duration[0]["exclusiveMinimum"] == 0 and duration[0]["maximum"] == 86400


def test_every_shipped_experiment_and_scenario_validates() -> None:
    for kind, files in (("experiment", EXPERIMENTS), ("scenario", SCENARIOS)):
        done = check_jsonschema(kind, *files)
        assert done.returncode == 0, done.stdout + done.stderr


def test_shape_defects_are_flagged_by_the_schema_alone() -> None:
    files = [FIXTURES / "bad" / f"{name}.yaml" for name in REJECTED_BY_SHAPE]
    done = check_jsonschema("experiment", *files)
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert [f.name for f in files if f"{f}::" not in said and f"{f}:" not in said] == [], said


def test_service_files_and_runbooks_validate(tmp_path: Path) -> None:
    cfg = StackConfig(state_dir=tmp_path)
    written = reference.write(cfg)
    done = check_jsonschema("service", written, FIXTURES / "misfit" / "service.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    books = render_runbooks(reference.service(cfg))
    specs = []
    for name, book in books.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(book.spec.model_dump(mode="json", exclude_defaults=True)))
        specs.append(path)
    done = check_jsonschema("runbook", *specs)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_shipped_yaml_names_its_schema_for_editors() -> None:
    for kind, files in (("experiment", EXPERIMENTS), ("scenario", SCENARIOS)):
        for path in files:
            if FIXTURES in path.parents:
                continue  # test data: its line numbers are part of what its tests expect
            found = MODELINE.search(path.read_text())
            assert found, f"{path}: no yaml-language-server modeline"
            target = (path.parent / found.group(1)).resolve()
            assert target == SCHEMAS / f"{kind}.schema.json", path


def test_results_of_every_schema_version_validate() -> None:
    """A results.json written before actors and the quiet-start check were kept still
    validates, and reads (`mlchaos.report.results.read_results`)."""
    from mlchaos.report.results import read_results

    olds = sorted((FIXTURES / "results").glob("*.json"))
    assert olds
    done = check_jsonschema("results", *olds)
    assert done.returncode == 0, done.stdout + done.stderr
    for old in olds:
        run = old.parent / old.stem
        run.mkdir(exist_ok=True)
        try:
            (run / "results.json").write_text(old.read_text())
            assert read_results(run).experiments
        finally:
            (run / "results.json").unlink()
            run.rmdir()
