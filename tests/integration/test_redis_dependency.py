"""Dependency faults on a real Redis (Debian's redis-server, ACL users as the example staging
has them), through mlchaos's target and its detached lease keeper: an outage and a slow Redis
end when the lease does, and within a second by themselves once nobody renews the pause (the
keeper killed too); a stale feature view's values vanish in Feast's online-store layout and
come back where still missing, keeping what the team's pipeline wrote meanwhile; the password
is never written anywhere."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from mlchaos.errors import InputError
from mlchaos.faults import dependency
from mlchaos.faults.leases import revert_all
from mlchaos.faults.targets import redis as target
from mlchaos.faults.targets.feast_layout import view_fields
from mlchaos.journal import Journal, Lease
from mlchaos.schema.experiment import DependencyFault
from mlchaos.service import Service
from tests.conftest import free_ports, wait_until

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-for-mlchaos-only"
CONSUMER = "consumer-password"
VIEWS = {"customer_profile": ("account_age_days",), "customer_activity": ("prior_txns",)}
KEYS = 50


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    state = tmp_path_factory.mktemp("redis")
    (state / "users.acl").write_text(
        "user default off\n"
        f"user mlchaos on >{PASSWORD} ~* &* +@all\n"
        f"user fraud on >{CONSUMER} ~* +@read +@write +@connection\n"
    )
    [port] = free_ports(1)
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(state), "--aclfile", str(state / "users.acl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _consumer_ping(port, 1.0) is not None, timeout=20)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _consumer(port: int, timeout_s: float) -> redis.Redis:
    return redis.Redis(port=port, username="fraud", password=CONSUMER, socket_timeout=timeout_s,
                       socket_connect_timeout=timeout_s, retry=None)  # fmt: skip


def _consumer_ping(port: int, timeout_s: float) -> float | None:
    """How long the model server's user waits for a PING; None when it got no answer."""
    started = time.monotonic()
    try:
        _consumer(port, timeout_s).ping()
    except redis.RedisError:
        return None
    return time.monotonic() - started


def entity_key(customer: int) -> bytes:
    """A key in Feast's layout: the serialized entity key, then the project."""
    return b"\x01\x00\x00\x00\x02\x00\x00\x00\x0b\x00\x00\x00customer_id" + \
        customer.to_bytes(8, "little") + b"fraud"  # fmt: skip


@pytest.fixture
def materialized(redis_port: int) -> dict[bytes, dict[bytes, bytes]]:
    """Every customer's two views, as Feast's materialization writes them."""
    consumer = _consumer(redis_port, 2.0)
    written = {}
    for customer in range(1, KEYS + 1):
        fields = {}
        for view, features in VIEWS.items():
            ts, *values = view_fields(view, features)
            fields[ts] = b"\x08\x80\xf2\xd6\xca\x06"
            fields.update({v: f"{view}-{customer}".encode() for v in values})
        consumer.delete(entity_key(customer))
        consumer.hset(entity_key(customer), mapping=fields)  # type: ignore[arg-type]
        written[entity_key(customer)] = fields
    return written


def service(port: int, tmp_path: Path, **extra: Any) -> Service:
    """The staging as mlchaos sees it: Redis as ``feature-store``, with ``extra`` fields."""
    os.environ["MLCHAOS_TEST_REDIS_PASSWORD"] = PASSWORD
    return Service(
        model="fraud", model_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9",
        prometheus_url="http://127.0.0.1:9", alertmanager_url="http://127.0.0.1:9",
        traffic_query="up", hook_dir=tmp_path,
        dependencies={"feature-store": {
            "kind": "redis", "url": f"redis://127.0.0.1:{port}/0", "username": "mlchaos",
            "password_env": "MLCHAOS_TEST_REDIS_PASSWORD",
            "feast": {"project": "fraud", "views": VIEWS}, **extra,
        }},
    )  # fmt: skip


def fault(mode: str, ttl: float = 60.0, **extra: Any) -> DependencyFault:
    return DependencyFault.model_validate(
        {"type": "dependency", "dependency": "feature-store", "mode": mode, "ttl": ttl, **extra}
    )


def lease_file(journal: Journal) -> Path:
    [lease] = journal.of(Lease)
    return Path(lease.as_intent()["lease_file"])


def keeper_pid(journal: Journal) -> int:
    return int(lease_file(journal).with_suffix(".alive").read_text())


def test_an_outage_stops_every_answer_until_the_lease_ends(redis_port: int, tmp_path: Path) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    assert "answers (PING in" in dependency.FAULT.ready(staging, fault("outage"))
    dependency.FAULT.inject(journal, staging, fault("outage"))
    assert dependency.FAULT.confirm(journal, staging, fault("outage"))
    assert _consumer_ping(redis_port, 0.3) is None  # the model server's lookups time out
    started = time.monotonic()
    [ended] = revert_all(journal)
    assert ended["action"] == "revert" and "answers again" in ended["reason"]
    assert time.monotonic() - started < 3  # the last one-second pause, and no more
    assert _consumer_ping(redis_port, 0.3) is not None
    assert not _pid_alive(keeper_pid(journal), timeout_s=5)  # its keeper saw the end


def test_a_killed_keeper_leaves_redis_answering_within_a_second(
    redis_port: int, tmp_path: Path
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    dependency.FAULT.inject(journal, staging, fault("outage"))
    assert _consumer_ping(redis_port, 0.3) is None
    os.kill(keeper_pid(journal), signal.SIGKILL)  # the runner gone too: nobody renews it
    killed = time.monotonic()
    wait_until(lambda: _consumer_ping(redis_port, 0.2) is not None, timeout=5, interval=0.05)
    assert time.monotonic() - killed < 2.5  # Redis ended its last pause by itself
    revert_all(journal)  # recover: says what it found, breaks nothing


def test_the_keeper_ends_an_outage_at_its_ttl(redis_port: int, tmp_path: Path) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    dependency.FAULT.inject(journal, staging, fault("outage", ttl=2))
    target._HELD_FILES.clear()  # as after a `kill -9` of the runner: only the keeper is left
    wait_until(lambda: _consumer_ping(redis_port, 0.2) is not None, timeout=8, interval=0.1)
    done = lease_file(journal).with_suffix(".done")
    wait_until(done.exists, timeout=5)
    assert '"action": "expire"' in done.read_text() and "mlchaos lease keeper" in done.read_text()


def test_a_slow_redis_answers_after_about_its_delay(redis_port: int, tmp_path: Path) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    slow = fault("slow", delay=0.2)
    dependency.FAULT.inject(journal, staging, slow)
    assert dependency.FAULT.confirm(journal, staging, slow)
    waits = []
    for _ in range(20):  # over about two seconds: pauses of 0.2 s, 0.05 s free between them
        waits.append(_consumer_ping(redis_port, 1.0))
        time.sleep(0.1)
    assert all(w is not None and w < 0.5 for w in waits), waits  # slow, never down
    assert max(w or 0 for w in waits) >= 0.1, waits  # and slow indeed
    revert_all(journal)
    assert max(_consumer_ping(redis_port, 1.0) or 1 for _ in range(10)) < 0.05


def test_a_stale_view_vanishes_and_comes_back_where_still_missing(
    redis_port: int, tmp_path: Path, materialized: dict[bytes, dict[bytes, bytes]]
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    stale = fault("stale", feature_view="customer_activity")
    assert dependency.FAULT.ready(staging, stale).startswith(f"{KEYS} entity keys of Redis")
    dependency.FAULT.inject(journal, staging, stale)
    assert dependency.FAULT.confirm(journal, staging, stale)
    consumer = _consumer(redis_port, 2.0)
    gone = view_fields("customer_activity", VIEWS["customer_activity"])
    kept = view_fields("customer_profile", VIEWS["customer_profile"])
    assert not any(consumer.hexists(k, f) for k in materialized for f in gone)
    assert all(consumer.hexists(k, f) for k in materialized for f in kept)  # one view only
    # The team's pipeline writes one customer's values again before the revert: they stay.
    fresh = entity_key(7)
    consumer.hset(fresh, gone[1], b"rematerialized")
    [ended] = revert_all(journal)
    assert ended["reason"] == (f"put back {KEYS * 2 - 1} value(s) of customer_activity; 1 had "
                               "been written again meanwhile and were kept")  # fmt: skip
    assert consumer.hget(fresh, gone[1]) == b"rematerialized"
    for key, fields in materialized.items():
        if key != fresh:
            assert consumer.hgetall(key) == fields
    assert not consumer.keys("mlchaos:held:*")


def test_the_keeper_puts_a_stale_view_back_at_its_ttl(
    redis_port: int, tmp_path: Path, materialized: dict[bytes, dict[bytes, bytes]]
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    stale = fault("stale", ttl=1, feature_view="customer_profile")
    dependency.FAULT.inject(journal, staging, stale)
    target._HELD_FILES.clear()  # the runner is gone
    consumer = _consumer(redis_port, 2.0)
    wait_until(lambda: all(consumer.hgetall(k) == f for k, f in materialized.items()), timeout=10)
    [ended] = revert_all(journal)  # recover finds it ended, and says by whom
    assert ended["actor"] == "mlchaos lease keeper" and ended["action"] == "expire"


def test_the_password_is_never_written_and_a_missing_one_is_a_clear_error(
    redis_port: int, tmp_path: Path, materialized: dict[bytes, dict[bytes, bytes]]
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    dependency.FAULT.inject(journal, staging, fault("stale", feature_view="customer_activity"))
    revert_all(journal)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path
    del os.environ["MLCHAOS_TEST_REDIS_PASSWORD"]
    with pytest.raises(InputError, match=r"\$MLCHAOS_TEST_REDIS_PASSWORD is not set"):
        target.client(staging.dependencies["feature-store"], tmp_path)


def _pid_alive(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            return False
        time.sleep(0.05)
    return True


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
