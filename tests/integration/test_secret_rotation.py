"""A secret rotation on a real Redis (Debian's redis-server, ACL users as the example staging
has them): the consumer's password changes in Redis and in the team's secret file, its
connections close and it is refused; whoever ends the lease (the runner, the keeper at the
TTL, `mlchaos recover` after the keeper is killed) puts the old password back in both, without
ever holding it, and runs the team's propagation step. No password is written anywhere else."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import redis

from mlchaos.faults import secret_rotation
from mlchaos.faults.leases import revert_all
from mlchaos.faults.targets import redis as target
from mlchaos.journal import Journal
from mlchaos.schema.experiment import SecretRotationFault
from mlchaos.service import Service
from tests.conftest import wait_until
from tests.integration.test_redis_dependency import (  # noqa: F401 (a fixture)
    CONSUMER,
    PASSWORD,
    keeper_pid,
    lease_file,
    redis_port,
)
from tests.integration.test_redis_dependency import service as redis_service

pytestmark = pytest.mark.integration
PROPAGATE = [sys.executable, "-c",
             "import pathlib; p = pathlib.Path('propagated'); "
             "p.write_text((p.read_text() if p.exists() else '') + 'x')"]  # fmt: skip


def service(port: int, tmp_path: Path) -> Service:
    secret = tmp_path / "fraud-password"
    secret.write_text(CONSUMER + "\n")
    secret.chmod(0o640)
    return redis_service(port, tmp_path, secrets={
        "fraud": {"file": "fraud-password", "propagate": {"command": PROPAGATE}}})


def fault(ttl: float = 60.0) -> SecretRotationFault:
    return SecretRotationFault.model_validate({
        "type": "secret_rotation", "dependency": "feature-store", "user": "fraud", "ttl": ttl,
    })  # fmt: skip


def logs_in(port: int, password: str) -> bool:
    try:
        return bool(redis.Redis(port=port, username="fraud", password=password, socket_timeout=2,
                                retry=None).ping())  # fmt: skip
    except redis.AuthenticationError:
        return False


def as_before(port: int, tmp_path: Path) -> bool:
    """The old password logs in, the file holds it with its mode, nothing of the lease is left
    (held copy, held hash), and the team's propagation step ran once."""
    secret = tmp_path / "fraud-password"
    mlchaos = redis.Redis(port=port, username="mlchaos", password=PASSWORD)
    return (logs_in(port, CONSUMER) and secret.read_text() == CONSUMER + "\n"
            and secret.stat().st_mode & 0o777 == 0o640
            and not list(tmp_path.glob(".fraud-password.mlchaos-held-*"))
            and not mlchaos.keys("mlchaos:held:*")
            and (tmp_path / "propagated").exists()
            and (tmp_path / "propagated").read_text() == "x")  # fmt: skip


def test_a_rotation_refuses_the_consumer_until_the_revert_puts_the_old_password_back(
    redis_port: int, tmp_path: Path  # noqa: F811
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    assert secret_rotation.FAULT.ready(staging, fault()).startswith(
        "fraud logs in with fraud-password")
    consumer = redis.Redis(port=redis_port, username="fraud", password=CONSUMER, retry=None)
    consumer.ping()  # connected before the rotation, as the model server is
    secret_rotation.FAULT.inject(journal, staging, fault())
    with pytest.raises(redis.RedisError):  # its connection was closed, and it is refused
        consumer.ping()
    assert secret_rotation.FAULT.confirm(journal, staging, fault())  # Redis's ACL LOG says so
    rotated = (tmp_path / "fraud-password").read_text().strip()
    assert rotated != CONSUMER and logs_in(redis_port, rotated)  # the team's file has the new one
    assert (tmp_path / "fraud-password").stat().st_mode & 0o777 == 0o640
    [ended] = revert_all(journal)
    assert ended["action"] == "revert" and "propagation step ran" in ended["reason"]
    assert as_before(redis_port, tmp_path)
    assert not logs_in(redis_port, rotated)  # the rotated password is gone, not kept beside
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "fraud-password":
            text = path.read_text(errors="replace")
            assert CONSUMER not in text and rotated not in text and PASSWORD not in text, path


def test_the_keeper_puts_the_old_password_back_at_its_ttl(
    redis_port: int, tmp_path: Path  # noqa: F811
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    secret_rotation.FAULT.inject(journal, staging, fault(ttl=1))
    target._HELD_FILES.clear()  # as after a `kill -9` of the runner: only the keeper is left
    wait_until(lambda: as_before(redis_port, tmp_path), timeout=15, interval=0.1)
    [ended] = revert_all(journal)  # recover finds it ended, and says by whom
    assert ended["actor"] == "mlchaos lease keeper" and ended["action"] == "expire"


def test_recover_puts_it_back_after_the_runner_and_the_keeper_are_killed(
    redis_port: int, tmp_path: Path  # noqa: F811
) -> None:
    staging, journal = service(redis_port, tmp_path), Journal(tmp_path / "journal.jsonl")
    secret_rotation.FAULT.inject(journal, staging, fault())
    target._HELD_FILES.clear()
    os.kill(keeper_pid(journal), signal.SIGKILL)
    assert not logs_in(redis_port, CONSUMER)  # nothing ends it by itself now
    [ended] = revert_all(journal)  # `mlchaos recover`
    assert ended["action"] == "revert" and "propagation step ran" in ended["reason"]
    assert as_before(redis_port, tmp_path)
