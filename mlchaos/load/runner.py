"""Start and stop Locust as a subprocess, and read back the load it actually achieved."""

from __future__ import annotations

import csv
import ctypes
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.schema import Load

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class LoadStats:
    users: int
    target_rps: float
    achieved_rps: float
    requests: int
    failures: int
    p50_ms: float | None
    p99_ms: float | None
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Locust:
    """``with Locust(load, host, model, out_dir) as locust: ...``; ``locust.stats`` after."""

    def __init__(self, load: Load, host: str, model: str, out_dir: Path) -> None:
        self.load = load
        self.host = host
        self.model = model
        self.prefix = out_dir / "locust"
        self.log = out_dir / "locust.log"
        self.stats: LoadStats | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    def __enter__(self) -> Locust:
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            self.host,
            "-u",
            str(self.load.users),
            "-r",
            str(max(self.load.users, 1)),
            "--run-time",
            "2h",
            "--stop-timeout",
            "1",
            "--csv",
            str(self.prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--mlchaos-model",
            self.model,
            "--mlchaos-user-rate",
            f"{self.load.rate / self.load.users:g}",
        ]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._started = time.monotonic()
        time.sleep(0.2)
        if self._process.poll() is not None:
            raise MlchaosError(f"locust exited at start; see {self.log}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> LoadStats | None:
        process = self._process
        if process is None:
            return self.stats
        self._process = None
        duration = time.monotonic() - self._started
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # locust writes its final CSV on SIGTERM
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.stats = self._read_stats(duration)
        return self.stats

    def _read_stats(self, duration: float) -> LoadStats | None:
        path = Path(f"{self.prefix}_stats.csv")
        if not path.exists():
            return None
        with path.open() as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
        total = rows.get("Aggregated")
        if total is None:
            return None
        requests = int(total["Request Count"])
        return LoadStats(
            users=self.load.users,
            target_rps=self.load.rate,
            achieved_rps=round(requests / duration, 1) if duration else 0.0,
            requests=requests,
            failures=int(total["Failure Count"]),
            p50_ms=_float(total.get("50%")),
            p99_ms=_float(total.get("99%")),
            duration_s=round(duration, 1),
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


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None
