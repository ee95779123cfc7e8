"""An independent observer beside a real game day: every reported time matches what it saw.

The observer polls each owner of an event at 10 Hz on its own (the registry, Prometheus's
alerts and SLO queries, the PagerDuty receiver, the registry's leases) and notes when it first
saw each event. mlchaos's times come from the owners' own records, so each must lie within
0.25 s before what the observer saw, and never after it (recovery: by at most its 0.1 s grid).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT
from tests.e2e.conftest import mlchaos, results, write_scenario

pytestmark = pytest.mark.e2e
TOLERANCE_S = 0.25
ALERT = "ModelPredictionShift"


class Observer(threading.Thread):
    """Notes the first moment it sees each event; knows nothing of mlchaos's journal."""

    def __init__(self, stack: StackConfig, slos: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.stack, self.slos = stack, slos
        self.seen: dict[str, datetime] = {}
        self.holding_since: datetime | None = None
        self.recovery_runs: list[datetime] = []
        self.stop = threading.Event()
        self.ca = str(stack.tls_dir / "cert.pem")  # per call: REQUESTS_CA_BUNDLE beats a session's

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                self.look()
            except requests.RequestException:
                continue

    def note(self, event: str) -> None:
        """Noted when the answer that showed it arrived: no earlier than the event itself."""
        self.seen.setdefault(event, datetime.now(UTC))

    def look(self) -> None:
        registry = requests.get(
            f"{self.stack.url('registry')}/v1/models/{self.stack.model_name}", timeout=1
        ).json()
        if registry["production"] == "v3-inverted":
            self.note("injected")
        elif "injected" in self.seen:
            self.note("mitigated")  # the controller rolled it back (before the lease ends)
        leases = requests.get(f"{self.stack.url('registry')}/v1/leases", timeout=1).json()
        if "injected" in self.seen and not leases["leases"]:
            self.note("reverted")
        if "injected" not in self.seen:
            return
        alerts = requests.get(f"{self.stack.url('prometheus')}/api/v1/alerts", timeout=1).json()
        for alert in alerts["data"]["alerts"]:
            if alert["labels"]["alertname"] == ALERT:
                self.note("detected")
                if alert["state"] == "firing":
                    self.note("fired")
        incidents = requests.get(
            f"{self.stack.url('pagerduty')}/incidents", verify=self.ca, timeout=1
        ).json()
        for incident in incidents["incidents"]:
            if (incident.get("custom_details") or {}).get("alertname") != ALERT:
                continue
            triggered = datetime.fromisoformat(incident["triggered_at"].replace("Z", "+00:00"))
            if triggered >= self.seen["injected"] - timedelta(seconds=TOLERANCE_S):
                self.note("paged")
                if incident["acknowledged_at"]:
                    self.note("acknowledged")
        self.watch_slos()

    def watch_slos(self) -> None:
        holds = all(self.holds(slo) for slo in self.slos)
        now = datetime.now(UTC)
        if not holds:
            self.note("breached")
            self.holding_since = None
        elif "breached" in self.seen and self.holding_since is None:
            self.holding_since = now
            self.recovery_runs.append(now)

    def holds(self, slo: dict[str, Any]) -> bool:
        answer = requests.get(
            f"{self.stack.url('prometheus')}/api/v1/query", params={"query": slo["query"]},
            timeout=1,
        ).json()["data"]["result"]  # fmt: skip
        values = [float(r["value"][1]) for r in answer]
        return bool(values) and max(values) < slo["below"]


def test_reported_times_match_an_independent_observer(stack: StackConfig, tmp_path: Path) -> None:
    source = ROOT / "experiments" / "bad-version.yaml"
    slos = yaml.safe_load(source.read_text())["steady_state"]
    scenario = write_scenario(tmp_path, "observed")
    observer = Observer(stack, slos)
    observer.start()
    try:
        done = mlchaos(
            "gameday", str(scenario), "--state-dir", str(stack.state_dir),
            "--report-dir", str(tmp_path / "reports"),
        )  # fmt: skip
        time.sleep(0.5)  # let the observer take its last look at the revert
    finally:
        observer.stop.set()
        observer.join(timeout=5)
    assert done.returncode == 0, done.stdout + done.stderr
    [exp] = results(tmp_path / "reports")["experiments"]
    reported = {k: datetime.fromisoformat(v) for k, v in exp["timeline"].items() if v}
    seen = observer.seen
    gaps = {}
    for event in ("injected", "detected", "fired", "paged", "acknowledged", "mitigated",
                  "reverted"):  # fmt: skip
        assert event in seen and event in reported, (event, sorted(seen), exp["timeline"])
        gaps[event] = (seen[event] - reported[event]).total_seconds()
    # Recovery: the observer saw the SLOs start to hold for good at one of its recovery runs.
    recovered = reported["recovered"]
    gaps["recovered"] = min(
        ((run - recovered).total_seconds() for run in observer.recovery_runs), key=abs
    )
    print("observer minus reported (s):", {e: round(g, 3) for e, g in gaps.items()})
    # Never early: an owner's time can precede the observer's only by the 0.1 s grid that
    # recovery is searched on; and never more than TOLERANCE_S late.
    late = {e: g for e, g in gaps.items() if not -0.1 <= g <= TOLERANCE_S}
    assert not late, f"reported vs observed (observer minus reported, s): {gaps}"
    # The definitions hold together: firing comes the rule's ``for`` after pending.
    assert reported["fired"] >= reported["detected"]
    assert exp["floors_s"]["mttd"] <= exp["floors_s"]["time_to_fire"]
    # Every page of the window is listed, with whether anyone acknowledged it.
    assert any(p["role"] == "experiment" and p["acknowledged"] for p in exp["pages"])
