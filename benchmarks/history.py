"""How long the run history takes to answer over 1,000 runs: `History.trends()` with its
table in process, and `mlchaos history` as a command (its wall time, Python's start included).

It derives the runs from a real run directory (the newest under reports/, or --run), with
seeded jitter on every duration and one verdict in ten turned to fail (said in the output),
as `report_render.py` does: what aggregating costs depends on the number of runs and
experiments, not on their values. The runs are appended to a fresh history first (that time
is printed too, per run). Each figure is the median of --repeat answers, with its ratio to
the 2 s budget.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _stack import ROOT
from report_render import newest_run, nights

from mlchaos.report.history import History, trends_table
from mlchaos.report.render import read_results

BUDGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=None, help="a run directory to derive from")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run = args.run or newest_run()
    real = read_results(run)
    real = real.model_copy(update={"service": real.service or real.scenario})
    derived = nights(real, args.runs, args.seed)
    with tempfile.TemporaryDirectory(prefix="mlchaos-history-") as scratch:
        path = Path(scratch) / "history.sqlite"
        history = History(path)
        started = time.perf_counter()
        for night, document in enumerate(derived):
            history.append(document, Path(f"{document.scenario}-{night:04d}"))
        appended = time.perf_counter() - started
        rows = len(derived) * len(real.experiments)
        print(f"history of {args.runs} runs derived from {run.name} ({len(real.experiments)} "
              f"experiments each, {rows} rows; seeded jitter on every duration, 1 verdict in 10 "
              f"failed, seed {args.seed})")  # fmt: skip
        print(f"append: {appended:.1f}s for {args.runs} runs, "
              f"{appended / args.runs * 1000:.1f} ms per run")
        in_process = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            table = trends_table(history.trends())
            in_process.append(time.perf_counter() - started)
        command = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            asked = [sys.executable, "-m", "mlchaos", "history", "--history", str(path)]
            done = subprocess.run(asked, cwd=ROOT, capture_output=True, text=True)
            command.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
        print(f"size: {path.stat().st_size / 1e6:.1f} MB")
        for name, times in (("trends in process", in_process), ("`mlchaos history`", command)):
            median = statistics.median(times)
            verdict = "within" if median <= BUDGET_S else "OVER"
            print(f"{name}: median {median:.3f}s of {args.repeat} "
                  f"(min {min(times):.3f}s, max {max(times):.3f}s); {median / BUDGET_S:.2f}x "
                  f"the {BUDGET_S:g} s budget: {verdict}")  # fmt: skip
        print()
        print("\n".join(table.splitlines()[:6]))


if __name__ == "__main__":
    main()
