"""A human game day: mlchaos pages, shows the clock, and measures what people do.

The test plays the on-call engineer: it acknowledges with `mlchaos ack`, opens the runbook the
page links to, and runs the mitigation command written there, exactly as printed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from mlchaos.observe.pagerduty import Incidents
from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT, set_controller, wait_until
from tests.e2e.conftest import mlchaos, results, write_scenario

pytestmark = pytest.mark.e2e


def triggered(stack: StackConfig, since: datetime) -> list[dict[str, Any]]:
    incidents = Incidents(stack.url("pagerduty"), stack.tls_dir / "cert.pem")
    return [
        i for i in incidents.since(stack.pagerduty_service, since) if i["status"] == "triggered"
    ]


def runbook_command(runbook: Path, step: str) -> str:
    """The shell block under ``step`` in a rendered runbook, as on-call would copy it."""
    text = runbook.read_text()
    after = text[text.index(f"**{step}**") :]
    block = re.search(r"```sh\n(.*?)\n\s*```", after, re.S)
    assert block, f"no command under {step!r} in {runbook}"
    return "\n".join(line.removeprefix("   ") for line in block.group(1).splitlines())


def test_people_acknowledge_with_mlchaos_ack_and_mitigate_from_the_runbook(
    stack: StackConfig, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path, "human", source=ROOT / "experiments" / "schema-change.yaml", give_up_after="60s"
    )
    since = datetime.now(UTC)
    log = (tmp_path / "stderr.txt").open("w")
    # This team mitigates by hand, from the runbook: its fallback controller is off.
    set_controller(stack, False, "fallback-controller")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "gameday", str(scenario), "--responders", "human",
         "--state-dir", str(stack.state_dir), "--report-dir", str(tmp_path / "reports")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        [page] = wait_until(lambda: triggered(stack, since), timeout=60)
        # As a person would: read the page off the live view, then acknowledge it.
        hint = f"acknowledge with `mlchaos ack {page['id']}`"
        clock = re.compile(r"… acknowledged +target ≤30s after the page: [0-9.]+s left")
        shown = lambda: (tmp_path / "stderr.txt").read_text()  # noqa: E731
        wait_until(lambda: hint in shown() and clock.search(shown()), timeout=30)
        acked = mlchaos("ack", page["id"], "--state-dir", str(stack.state_dir), timeout=30)
        assert acked.returncode == 0 and f"acknowledged {page['id']}: " in acked.stdout
        [link] = page["links"]
        runbook = Path(urlparse(link["href"]).path)
        assert runbook.name == "input-validation.md" and runbook.is_file()
        command = runbook_command(runbook, "Route traffic to the fallback model")
        alert = page["custom_details"]["alertname"]
        mitigate = subprocess.run(
            ["bash", "-c", f"export ALERT={alert}\n{command}"], capture_output=True, text=True
        )
        assert mitigate.returncode == 0, mitigate.stderr
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
        set_controller(stack, True, "fallback-controller")
    view = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 0, stdout + view
    [exp] = results(tmp_path / "reports")["experiments"]
    assert exp["verdict"] == "pass", exp["reasons"]
    assert exp["sources"]["acknowledged"] == "pagerduty incident acknowledged"
    assert exp["sources"]["mitigated"].startswith("gateway answers (the fallback fallback-v1")
    # people did it all, and it counts: the registry's audit names on-call (the runbook's
    # command acts as $ACTOR, on-call when unset), and nothing is simulated
    assert exp["actors"]["mitigated"] == {"actor": "on-call", "party": "team"}
    assert exp["actors"]["acknowledged"]["party"] == "team"
    assert exp["simulated"] == {}
    assert exp["runbook_steps"] == []  # no automated responder
    assert exp["durations_s"]["mtta"] is not None and exp["durations_s"]["mttm"] is not None
    # The live view showed the clock, the page and the runbook while it waited.
    assert f"runbook: {link['href']}" in view
    assert re.search(r"✓ detected +\+[0-9.]+s +target ≤5s", view)


def test_ack_with_nothing_open_says_so(stack: StackConfig) -> None:
    done = mlchaos("ack", "--state-dir", str(stack.state_dir), timeout=30)
    assert done.returncode == 0 and "no triggered incident to acknowledge" in done.stdout
    unknown = mlchaos("ack", "P99999", "--state-dir", str(stack.state_dir), timeout=30)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: no triggered incident P99999; triggered: ")


def test_a_page_nobody_acknowledges_escalates_by_the_policy_and_not_without_one(
    stack: StackConfig, tmp_path: Path
) -> None:
    """Nobody acknowledges: the receiver's escalation policy notifies its next level 6 s after
    the page, and the experiment that expects it passes (automated responders: the simulated
    on-call leaves an escalation experiment's pages alone). With the policy deleted, the same
    experiment fails (human responders, nobody running `mlchaos ack`): it never escalated."""
    expect = {
        "detection": {"alert": "EdgeHighErrorRate", "within": "5s"},
        "paging": {"service": "model-oncall", "within": "10s"},
        "escalation": {"within": "15s"},
        "no_recovery": "this test stops the fallback controller: nothing mitigates",
    }
    scenario = write_scenario(
        tmp_path, "escalation", source=ROOT / "experiments" / "error-burst.yaml", expect=expect
    )
    policy, kept = stack.escalation_policy_path, stack.escalation_policy_path.read_text()
    set_controller(stack, False, "fallback-controller")  # the page stays open: it must escalate
    try:
        escalated = _run(stack, scenario, tmp_path / "with-policy", "automated")
        policy.unlink()
        unescalated = _run(stack, scenario, tmp_path / "without-policy", "human")
    finally:
        policy.write_text(kept)
        set_controller(stack, True, "fallback-controller")
    done, found = escalated
    [exp] = found["experiments"]
    assert done.returncode == 0, (exp["reasons"], done.stderr[-2000:])
    assert exp["actors"]["escalated"] == {"actor": "escalation policy", "party": "team"}
    assert 5 <= exp["durations_s"]["time_to_escalate"] <= 8, exp["durations_s"]  # 6 s, to the s
    assert exp["timeline"]["acknowledged"] is None  # nobody did: that is why it escalated
    assert "nobody answers its pages: they should escalate" in done.stderr
    done, found = unescalated
    [exp] = found["experiments"]
    assert done.returncode == 1, exp["reasons"]
    assert exp["timeline"]["escalated"] is None
    assert any(r.startswith("escalation: target 15s missed") for r in exp["reasons"]), exp[
        "reasons"
    ]


def _run(
    stack: StackConfig, scenario: Path, reports: Path, responders: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = mlchaos(
        "gameday", str(scenario), "--responders", responders, "--state-dir",
        str(stack.state_dir), "--report-dir", str(reports), timeout=300,
    )  # fmt: skip
    return done, results(reports)
