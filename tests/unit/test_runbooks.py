"""Runbooks render for a service with its real endpoints, every rule links to one, and every
command they give is valid shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlchaos.errors import InputError, ValidationFailed
from mlchaos.reference import service as reference
from mlchaos.reference.config import StackConfig
from mlchaos.reference.supervisor import rule_settings
from mlchaos.rules import RUNBOOK_OF, RuleSettings, alert_rules
from mlchaos.runbooks.catalogue import render_runbooks, runbook_for, write_runbooks

SECTIONS = (
    "## Symptoms",
    "## The alert and how to read it",
    "## PromQL and dashboards to check",
    "## Diagnosis",
    "## Mitigation",
    "## Escalation",
    "## Verification",
)
STACK = StackConfig(state_dir=Path("/srv/mlchaos"), ports={**StackConfig(state_dir=Path()).ports})
SERVICE = reference.service(STACK)
WITHOUT_REGISTRY = SERVICE.model_copy(
    update={"registry_url": None, "gateway_url": "http://gw.staging:8080"}
)


def test_every_runbook_has_every_section_and_the_services_real_urls() -> None:
    books = render_runbooks(SERVICE)
    assert set(books) == set(RUNBOOK_OF.values())
    for book in books.values():
        for section in SECTIONS:
            assert section in book.text, (book.name, section)
        assert SERVICE.gateway_url in book.text and SERVICE.prometheus_url + "/graph?" in book.text
        assert any(s.automated for s in book.spec.steps), f"{book.name}: game days test nothing"
    assert f"{SERVICE.registry_url}/v1/models/credit-risk/rollback" in books["bad-version"].text


def test_every_command_is_valid_bash() -> None:
    for service in (SERVICE, WITHOUT_REGISTRY):
        for book in render_runbooks(service).values():
            commands = [s.run for s in book.spec.steps if s.run]
            commands += [c.run for c in book.spec.verification]
            for command in commands:
                checked = subprocess.run(["bash", "-n", "-c", command], capture_output=True)
                assert checked.returncode == 0, (book.name, command, checked.stderr)


def test_without_a_registry_the_rollback_is_the_services_hook() -> None:
    books = render_runbooks(WITHOUT_REGISTRY)
    actions = [s.action for s in books["bad-version"].spec.steps if s.action]
    assert actions == ["rollback"]
    fallback = [s.action for s in books["edge-degradation"].spec.steps if s.action]
    assert fallback == ["fallback"]  # the service's own switch: mlchaos routes nothing


def test_the_reference_registry_is_the_fallback_switch_and_steps_name_who_acts() -> None:
    books = render_runbooks(SERVICE)
    step = next(s for s in books["edge-degradation"].spec.steps if "fallback" in s.name)
    assert step.run is not None
    assert f"{SERVICE.registry_url}/v1/models/credit-risk/fallback" in step.run
    assert '"enabled": true, "actor": "\'"${ACTOR:-on-call}"\'"' in step.run


def test_rules_link_to_the_runbooks_the_stack_renders(tmp_path: Path) -> None:
    cfg = StackConfig(state_dir=tmp_path)
    written = {p.name for p in write_runbooks(render_runbooks(SERVICE), cfg.runbook_dir)}
    for rule in alert_rules(rule_settings(cfg))["groups"][0]["rules"]:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(cfg.runbook_dir.resolve().as_uri()), url
        assert url.rsplit("/", 1)[1] in written


def test_an_incident_finds_its_runbook_by_link_then_by_alert() -> None:
    books = render_runbooks(SERVICE)
    linked = {"links": [{"href": "file:///x/runbooks/data-drift.md"}], "custom_details": {}}
    assert runbook_for(linked, books) is books["data-drift"]
    named = {"links": [], "custom_details": {"alertname": "FraudModelSegmentGap"}}
    assert runbook_for(named, books, prefix="Fraud") is books["segment-regression"]
    assert runbook_for({"custom_details": {"alertname": "Other"}}, books) is None


def test_prefixed_alert_names_show_in_the_runbook() -> None:
    books = render_runbooks(SERVICE, RuleSettings(model=SERVICE.model, alert_prefix="Fraud"))
    assert "`FraudModelFeatureDrift`" in books["data-drift"].text


def test_a_bad_step_is_reported_at_its_line_in_the_template(tmp_path: Path) -> None:
    (tmp_path / "data-drift.md.j2").write_text(
        "{% set runbook | runbook %}\ntitle: t\nalerts: [ModelFeatureDrift]\nsteps:\n"
        "  - name: both\n    run: 'true'\n    action: fallback\n{% endset %}\n# t\n"
    )
    with pytest.raises(ValidationFailed) as failed:
        render_runbooks(SERVICE, template_dir=tmp_path)
    assert str(failed.value) == (
        "runbooks/data-drift.md.j2:5: runbook.steps.0: give exactly one of 'run' or 'action'"
    )


def test_a_runbook_for_an_unknown_alert_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.md.j2").write_text(
        "{% set runbook | runbook %}\ntitle: t\nalerts: [NoSuchAlert]\n"
        "steps: [{name: s, run: 'true'}]\n{% endset %}\n# t\n"
    )
    with pytest.raises(
        InputError, match=r"runbooks/mine\.md\.j2: alerts: no rule named NoSuchAlert"
    ):
        render_runbooks(SERVICE, template_dir=tmp_path)


def test_a_service_on_mlflow_renders_every_runbook_with_its_own_hooks() -> None:
    """An MLflow registry has none of the reference registry's API: its runbooks name the
    service file's hooks, and render without a command they cannot have."""
    mlflow = SERVICE.model_copy(update={"adapters": SERVICE.adapters.model_copy(
        update={"registry": "mlflow"})})  # fmt: skip
    books = render_runbooks(mlflow)
    assert "/v1/models/" not in "".join(b.text for b in books.values())
    actions = [s.action for s in books["bad-version"].spec.steps if s.action]
    assert actions == ["rollback"]
