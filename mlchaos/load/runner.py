"""Start and stop Locust as a subprocess (or a master and its workers, ``load.workers``), and
read back the load it actually achieved: the master's combined stats when there are workers."""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from mlchaos.errors import MlchaosError
from mlchaos.schema import Load
from mlchaos.schema.results import LoadSummary

__all__ = ["LOCUSTFILE", "PR_SET_PDEATHSIG", "SPAWN_S", "LoadStats", "Locust"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PR_SET_PDEATHSIG = 1


SPAWN_S = 3.0
"""Users start over this many seconds: a service that goes from idle to full load in one
second can trip its own latency alerts (connection pools and caches fill), which is a false
alarm, not what a game day measures."""


LoadStats = LoadSummary
"""What Locust sent: the results document's ``load`` part, typed once."""


class Locust:
    """``with Locust(load, host, model, payload, out_dir) as locust: ...``; ``locust.stats``
    after. ``payload`` is JSON lines of ``{"body", "label"}`` (`mlchaos.load.payload.prepare`);
    labels are posted to ``labels_path`` only when there is one."""

    def __init__(
        self, load: Load, host: str, model: str, payload: Path, out_dir: Path,
        infer_path: str = "/v2/models/{model}/infer", labels_path: str | None = None,
    ) -> None:  # fmt: skip
        self.load = load
        self.host = host
        self.model = model
        self.payload = payload
        self.infer_path = infer_path
        self.labels_path = labels_path
        self.prefix = out_dir / "locust"
        self.log = out_dir / "locust.log"
        self.stats: LoadStats | None = None
        self._process: subprocess.Popen[bytes] | None = None
        """One Locust process, or the master of ``load.workers`` local ones."""
        self._workers: list[subprocess.Popen[bytes]] = []
        self.master: str | None = None
        """``host:port`` of the master, when there are workers."""
        self._started = 0.0

    def __enter__(self) -> Locust:
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        options = [
            "--host", self.host,
            "--mlchaos-model", self.model,
            "--mlchaos-payload", str(self.payload),
            "--mlchaos-infer-path", self.infer_path,
            "--mlchaos-labels-path", self.labels_path or "",
            "--mlchaos-user-rate", f"{self.load.rate / self.load.users:g}",
            "--mlchaos-label-lag", f"{self.load.label_lag:g}",
            "--mlchaos-labelled", f"{self.load.labelled:g}",
        ]  # fmt: skip
        run = [
            "--headless",
            "-u", str(self.load.users),
            "-r", f"{max(self.load.users / SPAWN_S, 1):g}",
            "--run-time", "2h",
            "--stop-timeout", "1",
            "--json-file", str(self.prefix),
            "--only-summary",
        ]  # fmt: skip
        expected = self.load.workers + self.load.remote_workers
        if expected:
            host, port = self._master_address()
            self.master = f"{host}:{port}"
            ready = self.prefix.with_name("locust-ready")
            ready.unlink(missing_ok=True)
            run += [
                "--master", "--master-bind-host", host, "--master-bind-port", str(port),
                "--expect-workers", str(expected),
                "--expect-workers-max-wait", f"{self.load.connect_within:g}",
                "--mlchaos-ready-file", str(ready),
            ]  # fmt: skip
            if self.load.remote_workers:
                run.append("--mlchaos-share-payload")
        self._process = self._spawn(run + options)
        if expected:
            reach = "127.0.0.1" if host in ("0.0.0.0", "*", "::") else host.strip("[]")
            for _ in range(self.load.workers):
                self._workers.append(self._spawn([
                    "--worker", "--master-host", reach, "--master-port", str(port),
                    "--mlchaos-payload", str(self.payload),
                ]))  # fmt: skip
            self._wait_for_workers(ready, expected)
        self._started = time.monotonic()
        time.sleep(0.2)
        if self._process.poll() is not None:
            raise MlchaosError(f"locust exited at start; see {self.log}")
        return self

    def _spawn(self, arguments: list[str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *arguments,
                   "--loglevel", "WARNING"]  # fmt: skip
        with self.log.open("ab") as log:
            return subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _master_address(self) -> tuple[str, int]:
        if self.load.master is not None:
            host, _, port = self.load.master.rpartition(":")
            return host, int(port)
        with socket.socket() as probe:  # a free port: runs side by side must not collide
            probe.bind(("127.0.0.1", 0))
            return "127.0.0.1", probe.getsockname()[1]

    def _wait_for_workers(self, ready: Path, expected: int) -> None:
        """Until the master starts the run (its workers are in); bounded by
        ``load.connect_within``, and by any of them exiting."""
        deadline = time.monotonic() + self.load.connect_within + 5
        while not ready.exists():
            gone = [p for p in (self._process, *self._workers) if p and p.poll() is not None]
            if gone or time.monotonic() > deadline:
                connected = "the master exited" if self._process in gone else (
                    f"{len(gone)} worker(s) exited" if gone else
                    f"not all connected within {self.load.connect_within:g}s")  # fmt: skip
                self.stop(grace_s=2.0)
                raise MlchaosError(
                    f"locust: {expected} workers expected at {self.master}, {connected}; "
                    f"see {self.log}"
                )
            time.sleep(0.1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, grace_s: float = 15.0) -> LoadStats | None:
        """Stop Locust, giving it ``grace_s`` to write its final statistics, then kill it."""
        process = self._process
        if process is None:
            return self.stats
        self._process = None
        duration = time.monotonic() - self._started
        # the master first: it stops its workers, gathers their last stats and writes them
        for proc in (process, *self._workers):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # locust writes its final stats on SIGTERM
                try:
                    proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._workers = []
        self.stats = self._read_stats(duration)
        return self.stats

    def _read_stats(self, duration: float) -> LoadStats | None:
        """From the JSON Locust writes as it shuts down (its CSV can miss the last second)."""
        path = Path(f"{self.prefix}.json")
        if not path.exists():
            return None
        # Inference only: label posts are the world answering back, not load on the model.
        entries = [e for e in json.loads(path.read_text()) if e.get("name") == "infer"]
        requests = sum(int(e["num_requests"]) for e in entries)
        if not entries or not requests:
            return LoadStats(
                users=self.load.users, target_rps=self.load.rate, achieved_rps=0.0, requests=0,
                failures=0, p50_ms=None, p99_ms=None, duration_s=round(duration, 1),
                workers=self.load.workers + self.load.remote_workers,
            )  # fmt: skip
        times: dict[int, int] = {}
        for entry in entries:
            for ms, count in entry["response_times"].items():
                times[int(float(ms))] = times.get(int(float(ms)), 0) + int(count)
        first = min(float(e["start_time"]) for e in entries)
        last = max(float(e["last_request_timestamp"] or first) for e in entries)
        return LoadStats(
            users=self.load.users,
            target_rps=self.load.rate,
            achieved_rps=round(requests / max(last - first, 1e-9), 1),
            requests=requests,
            failures=sum(int(e["num_failures"]) for e in entries),
            p50_ms=_percentile(times, 0.50),
            p99_ms=_percentile(times, 0.99),
            duration_s=round(duration, 1),
            workers=self.load.workers + self.load.remote_workers,
        )


def _die_with_parent() -> None:
    """Ask Linux to kill Locust when mlchaos dies, even by `kill -9`: no orphaned load.

    SIGKILL, not SIGTERM: an orphan must stop at once, and with its parent gone nobody
    reads its final statistics anyway.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: Locust's --run-time still bounds it


def _percentile(histogram: dict[int, int], q: float) -> float:
    """The ``q`` quantile of a response-time histogram (milliseconds -> count)."""
    total = sum(histogram.values())
    seen = 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= q * total:
            return float(ms)
    return float(max(histogram))
