"""How long `mlchaos up` takes until every component answers its health check.

Cold: an empty state directory (the models are trained first). Warm: the same directory again.
Prints each figure and its ratio to the 10 s budget.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _stack import mlchaos, port_flags

BUDGET_S = 10.0


def timed_up(state_dir: Path, ports: list[str]) -> float:
    started = time.perf_counter()
    mlchaos("up", "--state-dir", str(state_dir), *ports).check_returncode()
    elapsed = time.perf_counter() - started
    mlchaos("down", "--state-dir", str(state_dir)).check_returncode()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ports = port_flags()
    state = Path(tempfile.mkdtemp(prefix="mlchaos-bench-"))
    try:
        cold = timed_up(state / "stack", ports)
        warm = [timed_up(state / "stack", ports) for _ in range(args.runs)]
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(f"cold start (trains models): {cold:5.2f}s  = {cold / BUDGET_S:.2f} x the 10s budget")
    for i, w in enumerate(warm, 1):
        print(f"warm start #{i}:              {w:5.2f}s  = {w / BUDGET_S:.2f} x the 10s budget")


if __name__ == "__main__":
    main()
