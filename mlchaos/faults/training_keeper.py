"""The lease keeper of a poisoned training snapshot: ``python -m mlchaos.faults.training_keeper
LEASE_FILE``, started detached in its own session before the snapshot is poisoned, so that a
`kill -9` of the runner leaves it running (`mlchaos.faults.targets.training`). At the lease's
expiry (or SIGTERM from `mlchaos recover`) it puts the snapshot back, and the alias if a
poisoned version took it, retrying with a growing pause until it can."""

from __future__ import annotations

import sys
from pathlib import Path

from mlchaos.faults.keeper import keep
from mlchaos.faults.targets.training import undo

__all__ = ["main"]


def main(lease_file: Path) -> int:
    return keep(lease_file, undo)


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
