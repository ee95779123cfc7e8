"""PagerDuty's REST API v2 as the receiver serves it, read and written by the official client
(`pagerduty.RestApiV2Client`) and by mlchaos's REST pager: the contract the real PagerDuty
keeps (token auth, classic pagination, filters, log entries, alerts, the From header).

The receiver stands in for PagerDuty's SaaS, which cannot be reached from here."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pagerduty
import pytest
import requests

from mlchaos.errors import AccessRefused
from mlchaos.observe.pagerduty_rest import PagerDutyRest
from mlchaos.receiver.rest import service_id
from mlchaos.schema.service import PagerDutyRest as RestSpec
from tests.conftest import ROOT, free_ports, wait_until

pytestmark = pytest.mark.integration
KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "u+rest-api-token-for-tests"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("receiver")
    (state / "key").write_text(KEY)
    (state / "tokens").write_text(f"{TOKEN}\nanother-token\n")
    [port] = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "receiver", "--service", "fraud-oncall",
         "--routing-key-file", str(state / "key"), "--api-token-file", str(state / "tokens"),
         "--port", str(port), "--state-dir", str(state)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(state / "log").open("wb"),
    )  # fmt: skip
    url, ca = f"https://127.0.0.1:{port}", state / "tls" / "cert.pem"
    try:
        wait_until(lambda: ca.exists() and _healthy(url, ca), timeout=30)
        yield {"url": url, "rest": f"{url}/rest", "ca": ca}
    finally:
        process.terminate()
        process.wait(10)


def _healthy(url: str, ca: Path) -> bool:
    try:
        return requests.get(f"{url}/health", verify=str(ca), timeout=2).ok
    except requests.RequestException:
        return False


def events(receiver: dict[str, Any]) -> pagerduty.EventsApiV2Client:
    client = pagerduty.EventsApiV2Client(KEY, base_url=receiver["url"], verify=str(receiver["ca"]))
    client.max_network_attempts, client.sleep_timer = 2, 0.2
    return client


def rest(receiver: dict[str, Any], token: str = TOKEN, **kw: Any) -> pagerduty.RestApiV2Client:
    client = pagerduty.RestApiV2Client(
        token, base_url=receiver["rest"], verify=str(receiver["ca"]), **kw
    )
    client.max_http_attempts, client.max_network_attempts, client.sleep_timer = 2, 2, 0.2
    return client


def trigger(receiver: dict[str, Any], alert: str, dedup: str) -> None:
    events(receiver).trigger(f"{alert}: firing", "alertmanager", dedup_key=dedup,
                             custom_details={"alertname": alert})  # fmt: skip


def test_a_bad_or_missing_token_is_401_as_pagerduty_answers(receiver: dict[str, Any]) -> None:
    with pytest.raises(pagerduty.HttpError) as refused:
        rest(receiver, "not-a-token").rget("incidents")
    assert refused.value.response.status_code == 401
    bare = requests.get(f"{receiver['rest']}/incidents", verify=str(receiver["ca"]), timeout=5)
    assert bare.status_code == 401
    assert bare.json() == {"error": {"message": "Authentication required", "code": 2006}}


def test_incidents_paginate_and_filter_for_the_official_client(receiver: dict[str, Any]) -> None:
    for n in range(30):
        trigger(receiver, "PageFlood", f"flood-{n}")
    client = rest(receiver)
    ours = {"service_ids[]": [service_id("fraud-oncall")], "date_range": "all"}
    listed = client.list_all("incidents", params=ours, page_size=7)  # five pages
    flood = [i for i in listed if i["title"] == "PageFlood: firing"]
    assert len(flood) == 30 and len({i["id"] for i in flood}) == 30
    assert {i["service"]["id"] for i in listed} == {service_id("fraud-oncall")}
    page = requests.get(
        f"{receiver['rest']}/incidents",
        params={"limit": 7, "offset": 28, "total": "true", "date_range": "all"},
        headers={"Authorization": f"Token token={TOKEN}"}, verify=str(receiver["ca"]), timeout=5,
    ).json()  # fmt: skip
    assert (page["limit"], page["offset"], page["more"]) == (7, 28, len(listed) > 35)
    assert page["total"] == len(listed)
    other = {"service_ids[]": ["PNOSUCH"], "date_range": "all"}
    assert client.list_all("incidents", params=other) == []
    assert client.find("services", "fraud-oncall", attribute="name")["id"] == service_id(
        "fraud-oncall"
    )
    bad = requests.get(f"{receiver['rest']}/incidents", params={"limit": "many"},
                       headers={"Authorization": f"Token token={TOKEN}"},
                       verify=str(receiver["ca"]), timeout=5)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 2001


def test_mlchaos_reads_pages_and_acknowledges_through_the_rest_api(
    receiver: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_TOKEN", TOKEN)
    spec = RestSpec(url=receiver["rest"], token_env="PD_TOKEN", from_email="sre@example.com")
    pager = PagerDutyRest(spec, receiver["ca"], "fraud-oncall")
    since = datetime.now(UTC).replace(microsecond=0)  # a whole second: times are to the second
    trigger(receiver, "FraudFlagRateHigh", "rest-ack-1")

    def mine() -> list[dict[str, Any]]:
        return [i for i in pager.since("fraud-oncall", since) if i["dedup_key"] == "rest-ack-1"]

    [incident] = wait_until(mine, timeout=10)
    triggered = datetime.fromisoformat(incident["triggered_at"])
    earliest = datetime.fromisoformat(incident["triggered_earliest"])
    # PagerDuty's times are to the second: the page is the end of that second (never early),
    # and MTTA runs from its start (never short)
    assert since <= earliest <= triggered <= datetime.now(UTC)
    assert (triggered - earliest).total_seconds() <= 1
    assert incident["custom_details"] == {"alertname": "FraudFlagRateHigh"}
    assert (incident["status"], incident["acknowledged_at"]) == ("triggered", None)

    without_from = requests.put(
        f"{receiver['rest']}/incidents/{incident['id']}",
        json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
        headers={"Authorization": f"Token token={TOKEN}"}, verify=str(receiver["ca"]), timeout=5,
    )  # fmt: skip
    assert without_from.status_code == 400
    before_ack = datetime.now(UTC)
    pager.acknowledge(incident)
    [acked] = mine()
    assert acked["status"] == "acknowledged"
    assert before_ack <= datetime.fromisoformat(acked["acknowledged_at"]) <= datetime.now(UTC)
    entries = rest(receiver).list_all(f"incidents/{incident['id']}/log_entries")
    assert [e["type"] for e in entries] == ["acknowledge_log_entry", "trigger_log_entry"]
    assert [e["summary"] for e in entries] == [
        "Acknowledged through the REST API", "Triggered through the API"]  # fmt: skip
    assert acked["acknowledged_by"] == "sre@example.com"
    assert entries[0]["agent"] == {"type": "user_reference", "summary": "sre@example.com"}
    assert entries[0]["created_at"].endswith("Z") and "." not in entries[0]["created_at"]


def test_a_refused_token_is_said_without_the_token(
    receiver: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_TOKEN", "wrong-token-value")
    pager = PagerDutyRest(RestSpec(url=receiver["rest"], token_env="PD_TOKEN"), receiver["ca"],
                          "fraud-oncall")  # fmt: skip
    with pytest.raises(AccessRefused, match=r"refused the token in \$PD_TOKEN \(HTTP 401\)") as no:
        pager.since("fraud-oncall", datetime.now(UTC) - timedelta(minutes=1))
    assert "wrong-token-value" not in str(no.value)


def test_mlchaos_ack_acknowledges_through_the_rest_api(
    receiver: dict[str, Any], tmp_path: Path
) -> None:
    """With ``pagerduty.rest`` and a ``from_email``, `mlchaos ack` needs no routing key."""
    service = tmp_path / "service.yaml"
    service.write_text(
        "version: 1\nname: fraud\nmodel: fraud\n"
        "endpoints: {gateway: 'http://127.0.0.1:9', prometheus: 'http://127.0.0.1:9', "
        "alertmanager: 'http://127.0.0.1:9'}\n"
        "traffic_query: up\n"
        f"pagerduty:\n  url: {receiver['url']}\n  service: fraud-oncall\n"
        f"  ca_file: {receiver['ca']}\n  routing_key_env: NO_SUCH_VARIABLE\n"
        f"  rest: {{url: '{receiver['rest']}', token_env: PD_TOKEN, from_email: sre@example.com}}\n"
    )
    trigger(receiver, "FraudLatencyHigh", "cli-ack-1")
    done = subprocess.run(
        [sys.executable, "-m", "mlchaos", "ack", "--service", str(service)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PD_TOKEN": TOKEN},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "FraudLatencyHigh: firing" in done.stdout
    listed = rest(receiver).list_all("incidents", params={"incident_key": "cli-ack-1"})
    assert [i["status"] for i in listed] == ["acknowledged"]
    assert TOKEN not in done.stdout + done.stderr


def test_an_unacknowledged_incident_escalates_in_the_rest_api(tmp_path: Path) -> None:
    """The receiver with an escalation policy (6 s per level, for staging): an incident nobody
    acknowledges has an ``escalate_log_entry`` to level 2 in the REST API, read with the
    official client; one acknowledged in time never escalates."""
    (tmp_path / "key").write_text(KEY)
    (tmp_path / "tokens").write_text(TOKEN)
    (tmp_path / "policy.yaml").write_text(
        "name: fraud escalation\nescalation_rules:\n"
        "  - {escalation_delay_in_minutes: 0.1, targets: [primary-oncall]}\n"
        "  - {escalation_delay_in_minutes: 0.1, targets: [team-lead]}\n"
    )
    [port] = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlchaos", "receiver", "--service", "fraud-oncall",
         "--routing-key-file", str(tmp_path / "key"), "--api-token-file", str(tmp_path / "tokens"),
         "--escalation-policy", str(tmp_path / "policy.yaml"), "--port", str(port),
         "--state-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(tmp_path / "log").open("wb"),
    )  # fmt: skip
    url, ca = f"https://127.0.0.1:{port}", tmp_path / "tls" / "cert.pem"
    receiver = {"url": url, "rest": f"{url}/rest", "ca": ca}
    try:
        wait_until(lambda: ca.exists() and _healthy(url, ca), timeout=30)
        trigger(receiver, "FraudBurnRatePage", "unanswered")
        trigger(receiver, "FraudEdgeErrors", "answered")
        client = rest(receiver)
        answered = next(i for i in client.list_all("incidents") if i["incident_key"] == "answered")
        client.rput(f"incidents/{answered['id']}", json={"incident": {
            "type": "incident_reference", "status": "acknowledged"}},
            headers={"From": "oncall@fraud.example"})  # fmt: skip
        unanswered = next(
            i for i in client.list_all("incidents") if i["incident_key"] == "unanswered"
        )

        def escalated(incident_id: str) -> list[dict[str, Any]]:
            entries = client.list_all(f"incidents/{incident_id}/log_entries")
            return [e for e in entries if e["type"] == "escalate_log_entry"]

        wait_until(lambda: bool(escalated(unanswered["id"])), timeout=30, interval=0.5)
        [entry] = escalated(unanswered["id"])[-1:]
        assert entry["channel"] == {"type": "timeout"}
        assert entry["assignees"] == [{"type": "user_reference", "summary": "team-lead"}]
        created = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00"))
        triggered = datetime.fromisoformat(unanswered["created_at"].replace("Z", "+00:00"))
        assert timedelta(seconds=5) <= created - triggered <= timedelta(seconds=7)  # 6 s, to the s
        incident = client.rget(f"incidents/{unanswered['id']}")
        assert incident["escalation_level"] == 2
        assert incident["escalation_policy"]["summary"] == "fraud escalation"
        assert escalated(answered["id"]) == []  # acknowledged within its 6 s
        [policy] = client.list_all("escalation_policies")
        assert [r["escalation_delay_in_minutes"] for r in policy["escalation_rules"]] == [0.1, 0.1]
    finally:
        process.terminate()
        process.wait(10)
