"""Helpers every layer shares: free loopback ports and waiting on conditions, never on sleeps."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

pytest_plugins = ["pytester"]  # the mlchaos pytest plugin is tested as pytest users run it

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def free_ports(count: int) -> list[int]:
    """Ports the kernel says are free now, all distinct."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


EXAMPLE_VENV = ROOT / ".venv-example"
"""The example team's own virtualenv (MLServer, MLflow, tritonclient): `make example-setup`."""


def example_bin(name: str) -> Path:
    """A program of the example team's virtualenv; the test fails (it is not skipped) when
    the virtualenv is missing, because `make test` always makes it."""
    path = EXAMPLE_VENV / "bin" / name
    if not path.exists():
        import pytest

        pytest.fail(f"{path} is missing: run `make example-setup` (make test does)")
    return path


def wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


import pytest  # noqa: E402

from mlchaos.reference import supervisor  # noqa: E402
from mlchaos.reference.config import COMPONENTS, StackConfig  # noqa: E402


def new_stack_config(state_dir: Path) -> StackConfig:
    return StackConfig(
        state_dir=state_dir, ports=dict(zip(COMPONENTS, free_ports(len(COMPONENTS)), strict=True))
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """The real reference stack on free loopback ports, shared by the session's tests.

    Tests that change it (disable the controller, promote a version) put it back.
    """
    cfg = new_stack_config(tmp_path_factory.mktemp("stack"))
    supervisor.up(cfg)
    yield cfg
    supervisor.down(cfg)
