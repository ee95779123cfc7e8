"""A throwaway reference stack on free ports, for benchmarks."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlchaos.reference.config import COMPONENTS, StackConfig  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_flags() -> list[str]:
    return [arg for c in COMPONENTS for arg in ("--port", f"{c}={free_port()}")]


def mlchaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchaos", *args], cwd=ROOT, text=True, capture_output=True
    )


@contextlib.contextmanager
def bench_stack() -> Iterator[tuple[StackConfig, Path]]:
    """(config, scratch directory) of a fresh stack; stopped and removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="mlchaos-bench-"))
    state = work / "stack"
    mlchaos("up", "--state-dir", str(state), *port_flags()).check_returncode()
    try:
        yield StackConfig.load(state), work
    finally:
        mlchaos("down", "--state-dir", str(state))
        shutil.rmtree(work, ignore_errors=True)
