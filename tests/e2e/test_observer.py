"""An independent observer beside a real game day: every reported time matches what it saw.

The observer polls at 10 Hz on its own paths, never the ones mlchaos reads: what the service
answers its own inference requests (which version answered: the fault's start and its
mitigation), Prometheus's alerts and SLO queries, the pages through PagerDuty's REST API (mlchaos
reads the receiver's Events-side ``/incidents``), and the registry's leases. It notes when it
first saw each event. mlchaos's times come from the owners' own records, so each must lie at
most `TOLERANCE_S` before what the observer saw, and never after it by more than `EARLY_S`.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlchaos.protocols import Codec
from mlchaos.reference.config import StackConfig
from tests.conftest import ROOT
from tests.e2e.conftest import mlchaos, results, write_scenario

pytestmark = pytest.mark.e2e
TOLERANCE_S = 0.25
"""The most an observer polling at 10 Hz may see an event after its owner's time."""
EARLY_S = 0.1
"""The most it may see one before: recovery is searched on a 0.1 s grid, and a served change
is timed by the answers mlchaos's traffic got, which can come a little before the observer's
own request does."""
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
        self.token = stack.api_token()
        features = json.loads(stack.traffic_path.read_text().splitlines()[0])["features"]
        self.body = Codec().encode([features])

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
        served = self.served()
        if served == "v3-inverted":
            self.note("injected")
        elif "injected" in self.seen and served:
            self.note("mitigated")  # what answers is no longer the bad version
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
        for incident in self.rest("incidents", statuses=["triggered", "acknowledged"]):
            if incident["title"].startswith(ALERT) and self.after_injection(incident):
                self.note("paged")
                if incident["status"] == "acknowledged":
                    self.note("acknowledged")
        self.watch_slos()

    def served(self) -> str | None:
        """The version that answers one inference of the stack's own traffic, as a client
        sees it through the gateway."""
        answer = requests.post(
            f"{self.stack.url('gateway')}/v2/models/{self.stack.model_name}/infer",
            json=self.body, timeout=1,
        )  # fmt: skip
        return answer.headers.get("x-model-version") if answer.ok else None

    def rest(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """PagerDuty's REST API v2 (the receiver's, under /rest), with an API token."""
        answer = requests.get(
            f"{self.stack.url('pagerduty')}/rest/{path}",
            params={**{f"{k}[]": v for k, v in params.items()}, "date_range": "all"},
            headers={"Authorization": f"Token token={self.token}"}, verify=self.ca, timeout=1,
        )  # fmt: skip
        answer.raise_for_status()
        return list(answer.json()["incidents"])

    def after_injection(self, incident: dict[str, Any]) -> bool:
        """REST gives times to the second: an incident of the injection's second or later."""
        created = datetime.fromisoformat(incident["created_at"].replace("Z", "+00:00"))
        return created >= self.seen["injected"].replace(microsecond=0)

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
    # Never early by more than EARLY_S, and never more than TOLERANCE_S late.
    late = {e: g for e, g in gaps.items() if not -EARLY_S <= g <= TOLERANCE_S}
    assert not late, f"reported vs observed (observer minus reported, s): {gaps}"
    # The definitions hold together: firing comes the rule's ``for`` after pending.
    assert reported["fired"] >= reported["detected"]
    assert exp["floors_s"]["mttd"] <= exp["floors_s"]["time_to_fire"]
    # Every page of the window is listed, with whether anyone acknowledged it.
    assert any(p["role"] == "experiment" and p["acknowledged"] for p in exp["pages"])
