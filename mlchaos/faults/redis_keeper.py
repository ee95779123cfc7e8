"""The lease keeper of a Redis dependency fault: ``python -m mlchaos.faults.redis_keeper
LEASE_FILE``, started detached in its own session before the fault is in, so that a `kill -9`
of the runner leaves it running (`mlchaos.faults.targets.redis`).

- ``outage`` and ``slow``: the keeper *is* the fault. It renews short ``CLIENT PAUSE`` slices
  until the lease expires, the runner ends it, or SIGTERM (`mlchaos recover`) asks it to end
  now; Redis ends the last slice by itself, and ends every slice by itself if the keeper is
  killed too.
- ``stale`` and ``rotate``: the keeper waits for the lease's expiry (or SIGTERM, or the
  runner's end), then puts back what the fault moved out or changed, retrying with a growing
  pause until it can.

Exactly one party ends a lease: the runner and the keeper both take the lease file's lock, and
whoever ends it writes what it did into the file (`mlchaos.faults.keeper.Held`).
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.faults.keeper import LOGGED_FAILURES, POLL_S, Held, end_until_done, watch
from mlchaos.faults.targets.redis import PULSE_S, client, pause_slices, undo
from mlchaos.schema.service import Dependency

__all__ = ["main"]


def main(lease_file: Path) -> int:
    held, lease, now = watch(lease_file)
    if lease["mode"] in ("outage", "slow"):
        _pulse(lease, held, lease_file, now)
    else:
        while time.time() < float(lease["expires_at"]) and not now.is_set():
            if held.done() is not None:
                return 0
            now.wait(POLL_S)
    return end_until_done(held, undo, "end" if now.is_set() else "expire")


def _pulse(lease: dict[str, Any], held: Held, lease_file: Path, now: threading.Event) -> None:
    """Renew the pause until the lease ends; each renewal waits for the pause before it."""
    import redis

    dependency = Dependency.model_validate(lease["spec"])
    base = Path(lease["service_dir"]) if lease.get("service_dir") else None
    server = client(dependency, base, timeout_s=PULSE_S * 3)
    pause_ms, gap_s = pause_slices(server, lease["mode"], float(lease["delay_s"]))
    started, failures = False, 0
    while time.time() < float(lease["expires_at"]) and not now.is_set():
        if held.done() is not None:
            return
        try:
            server.execute_command("CLIENT", "PAUSE", pause_ms, "ALL")
        except redis.RedisError as exc:  # Redis restarted, a network blip: try again
            failures += 1
            if failures <= LOGGED_FAILURES:
                print(f"{datetime.now(UTC).isoformat()} CLIENT PAUSE failed: {exc}", flush=True)
            now.wait(0.2)
            continue
        if not started:
            staged = lease_file.with_suffix(".started.new")
            staged.write_text(repr(time.time()))
            staged.replace(lease_file.with_suffix(".started"))
            started = True
        if gap_s:
            now.wait(pause_ms / 1000 + gap_s)


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
