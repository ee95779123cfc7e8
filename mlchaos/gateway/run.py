"""Running the gateway: in each worker process, the front on the gateway's port (shared with
``SO_REUSEPORT``) and the fault path beside it on loopback; a supervisor starts the workers,
starts again one that dies, and stops them.

With an ``https://`` upstream the front is not used (it speaks plain HTTP/1.1 to the model
server): the aiohttp application serves the port itself, as a whole gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from aiohttp import web

from mlchaos.gateway.front import Front
from mlchaos.gateway.server import MAX_IN_FLIGHT, create_app
from mlchaos.gateway.workers import Siblings

__all__ = ["Settings", "loop_factory", "serve"]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed: the gateway's per-request cost is mostly
    the event loop's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def serve(
    upstream: str,
    model: str,
    host: str,
    port: int,
    state_dir: Path,
    max_in_flight: int = MAX_IN_FLIGHT,
    admin_token: str | None = None,
    workers: int | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, in ``workers`` processes (one per core by default)."""
    count = workers or os.cpu_count() or 1
    args = Settings(upstream, model, host, port, state_dir, max_in_flight, admin_token)
    shutil.rmtree(state_dir / "gateway-workers", ignore_errors=True)  # an earlier run's
    if count == 1 or not upstream.startswith("http://"):
        _worker(args, 0, 1)
        return
    _check_port(host, port)
    _supervise(args, count)


def _check_port(host: str, port: int) -> None:
    """Fail at once, not in every worker, when the port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))


def _supervise(args: Settings, count: int) -> None:
    """Start the workers, start again one that dies, stop them all on SIGTERM or SIGINT."""
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    def start(index: int) -> BaseProcess:
        process = context.Process(target=_worker, args=(args, index, count), daemon=False)
        process.start()
        return process

    processes = {i: start(i) for i in range(count)}
    deaths: list[float] = []
    while not stopping.wait(0.2):
        for index, process in list(processes.items()):
            if process.is_alive():
                continue
            deaths = [t for t in deaths if t > time.monotonic() - 10] + [time.monotonic()]
            if len(deaths) > 3 * count:
                stopping.set()
                print(f"gateway workers keep dying (last exit {process.exitcode}); stopping",
                      file=sys.stderr)  # fmt: skip
                break
            processes[index] = start(index)
    for process in processes.values():
        if process.is_alive():
            process.terminate()
    for process in processes.values():
        process.join(5)
        if process.is_alive():
            process.kill()


def _worker(args: Settings, index: int, count: int) -> None:
    if count > 1:
        _die_with_parent()
    gc.collect()  # what is loaded stays: collections then only walk what requests make
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)  # rarely, as latency-sensitive services do: a p99 shows it
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(args, index, count))


def _die_with_parent() -> None:
    """A worker gets SIGTERM when the gateway's supervisor dies, even by kill -9 (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(0)  # the supervisor died before the line above


@dataclass(frozen=True)
class Settings:
    upstream: str
    model: str
    host: str
    port: int
    state_dir: Path
    max_in_flight: int
    admin_token: str | None


async def _serve(settings: Settings, index: int, count: int) -> None:
    upstream, model, host, port = settings.upstream, settings.model, settings.host, settings.port
    state_dir, max_in_flight, admin_token = (
        settings.state_dir, settings.max_in_flight, settings.admin_token)  # fmt: skip
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    fronted = upstream.startswith("http://")
    max_in_flight = -(-max_in_flight // count)  # the gateway's bound, split between its workers
    siblings = Siblings(state_dir, index, admin_token) if count > 1 else None
    app = create_app(
        upstream, model, state_dir, max_in_flight, admin_token,
        behind_front=fronted, siblings=siblings,
    )  # fmt: skip
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    try:
        if not fronted:
            await web.TCPSite(runner, host, port).start()
            await stop.wait()
            return
        faults = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        faults.bind(("127.0.0.1", 0))
        await web.SockSite(runner, faults).start()
        if siblings is not None:
            siblings.register(faults.getsockname()[1])
        front = Front(
            app["state"], app["outcomes"], app["metrics"], model, upstream,
            faults.getsockname()[:2], max_in_flight,
        )  # fmt: skip
        server = await loop.create_server(
            front.protocol, host, port, backlog=1024, reuse_port=count > 1 or None
        )
        try:
            await stop.wait()
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
    finally:
        await runner.cleanup()
