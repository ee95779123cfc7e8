"""A co-located CPU hog, the ``cpu_starve`` fault's: ``python -m mlchaos.faults.hog
LEASE_FILE CPU``. It pins itself to one core and keeps it busy, in slices of 50 ms, until the
lease expires, its ``.done`` file appears (the revert) or its lease file is gone; it is its own
lease keeper, so a `kill -9` of the runner leaves it to stop at the TTL
(`mlchaos.faults.targets.process`)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

__all__ = ["SLICE_S", "main"]

SLICE_S = 0.05


def main(lease_file: Path, cpu: int) -> int:
    try:
        expires_at = float(json.loads(lease_file.read_text())["expires_at"])
    except (OSError, ValueError, KeyError):
        return 1  # nothing to hold
    os.sched_setaffinity(0, {cpu})
    done = lease_file.with_suffix(".done")
    while time.time() < expires_at and lease_file.exists() and not done.exists():
        started = time.perf_counter()
        while time.perf_counter() - started < SLICE_S:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), int(sys.argv[2])))
