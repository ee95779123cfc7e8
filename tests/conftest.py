"""Helpers every layer shares: free loopback ports and waiting on conditions, never on sleeps."""

from __future__ import annotations

import socket
import subprocess
import sys
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


import warnings  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

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


def production(stack: StackConfig) -> str:
    url = f"{stack.url('registry')}/v1/models/{stack.model_name}"
    return str(requests.get(url, timeout=5).json()["production"])


def served(stack: StackConfig) -> list[str]:
    """What the model server answers for the stack's model with now (its metadata)."""
    url = f"{stack.url('model-server')}/v2/models/{stack.model_name}"
    return list(requests.get(url, timeout=5).json()["versions"])


def set_controller(
    stack: StackConfig, enabled: bool, controller: str = "rollback-controller"
) -> None:
    requests.post(
        f"{stack.url(controller)}/v1/enabled", json={"enabled": enabled}, timeout=5
    ).raise_for_status()


@pytest.fixture(autouse=True)
def reference_stack_as_expected(request: pytest.FixtureRequest) -> None:
    """Before each test on the shared reference stack: both controllers on, no failed answer
    left in the gateway's serving window, production on the version the stack expects, the
    fallback off and no canary.

    A page under load alone (a false alarm on a busy runner) can make a controller roll
    production back or switch to the fallback after a test has ended, and a game day leaves the
    team's last mitigation in place (it restores the baseline before each experiment, not
    after the last). The test that ran then judges it; the next one must not inherit it, or one
    stray alert fails every test after it for one cause. Putting it back is said as a warning
    in pytest's summary, so it is never silent.
    """
    if "stack" not in request.fixturenames:
        return
    from mlchaos.observe import serving
    from mlchaos.observe.gateway import GatewayClient

    stack: StackConfig = request.getfixturevalue("stack")
    for controller in ("rollback-controller", "fallback-controller"):
        set_controller(stack, True, controller)
    model = requests.get(f"{stack.url('registry')}/v1/models/{stack.model_name}", timeout=5).json()
    expected = stack.production_version
    found = (model["production"], model.get("fallback", False), model.get("canary"))
    if found != (expected, False, None):
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # shown in pytest's summary, not raised
            warnings.warn(
                f"production was {model['production']} (fallback "
                f"{'on' if model.get('fallback') else 'off'}, canary {model.get('canary')}) "
                f"before {request.node.name}; put back to {expected}, fallback off, no canary",
                stacklevel=1,
            )
        requests.post(
            f"{stack.url('registry')}/v1/models/{stack.model_name}/restore",
            json={"version": expected, "actor": "test-isolation", "reason": "test isolation"},
            timeout=5,
        ).raise_for_status()
        wait_until(lambda: served(stack) == [expected], 10)  # the server follows the registry
    # The gateway judges "serving" on every answer of its last few seconds. A test that sent
    # requests for a model nobody serves ends with 404s in that window; the next game day,
    # 3 s later, was judged "not serving: 28% of 176 requests succeeded".
    gateway = GatewayClient(stack.url("gateway"))
    wait_until(lambda: serving.recent(gateway)[1] in (None, 1.0), serving.WINDOW_S + 10)


SCHEMAS = ROOT / "schemas"
"""The published JSON Schemas (`mlchaos schema KIND`), as editors and CI read them."""


def check_jsonschema(kind: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """The real ``check-jsonschema`` on ``files`` against ``schemas/KIND.schema.json``."""
    program = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(program), "--schemafile", str(SCHEMAS / f"{kind}.schema.json"), *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
