"""How long rendering takes: one run's reports, and `mlchaos report` over 30 runs.

It measures a real run directory (the newest under reports/, or --run): junit.xml,
postmortem.md and report.html from results.json and the SLI series, as `mlchaos report RUN`
does. For the aggregate it needs 30 runs; when fewer real ones exist, it derives nights from
the real run with seeded jitter on every duration (said in the output), because rendering cost
depends on the number of runs and experiments, not on the values. Each figure is the median of
--repeat renders, printed with its ratio to the 2 s budget.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _stack import ROOT, mlchaos

from mlchaos.report.aggregate import aggregate, render_aggregate
from mlchaos.report.render import read_results, render_run
from mlchaos.report.results import write_results
from mlchaos.schema.results import ResultsDocument

BUDGET_S = 2.0


def newest_run() -> Path:
    runs = sorted((ROOT / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit("no run under reports/: run `make gameday` first, or pass --run DIR")
    return runs[-1].parent


def nights(document: ResultsDocument, count: int, seed: int) -> list[ResultsDocument]:
    rng = random.Random(seed)
    started = datetime.fromisoformat(document.started_at)
    derived = []
    for night in range(count):
        copied = document.model_dump(mode="json")
        copied["started_at"] = (started - timedelta(days=count - 1 - night)).isoformat()
        for exp in copied["experiments"]:
            exp["durations_s"] = {
                k: (round(v * rng.uniform(0.7, 1.6), 3) if v is not None else None)
                for k, v in exp["durations_s"].items()
            }
            if rng.random() < 0.1:
                exp["verdict"] = "fail"
        derived.append(ResultsDocument.model_validate(copied))
    return derived


def timed(render: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        render()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cli_wall(*args: str) -> float:
    started = time.perf_counter()
    mlchaos("report", *args).check_returncode()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    run_dir = args.run or newest_run()
    document = read_results(run_dir)
    real = [read_results(p.parent) for p in (ROOT / "reports").glob("*/results.json")]
    enough = len(real) >= args.runs
    documents = real[: args.runs] if enough else nights(document, args.runs, seed=7)
    source = "real runs" if enough else f"nights derived from {run_dir.name}, seeded jitter"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        one = timed(lambda: render_run(document, run_dir, out / "one"), args.repeat)
        many = timed(lambda: render_aggregate(aggregate(documents), out / "many"), args.repeat)
        dirs = []
        for i, night in enumerate(documents):
            (out / f"night-{i}").mkdir()
            write_results(night, out / f"night-{i}")
            dirs.append(str(out / f"night-{i}"))
        one_cli = cli_wall(str(run_dir), "--out", str(out / "one-cli"))
        many_cli = cli_wall(*dirs, "--out", str(out / "many-cli"))
    experiments = len(document.experiments)
    print(f"one run ({experiments} experiments, {run_dir.name}):")
    show("rendering, in process", one)
    show("`mlchaos report RUN`, wall", one_cli)
    print(f"aggregate of {len(documents)} runs ({source}):")
    show("rendering, in process", many)
    show("`mlchaos report RUN...`, wall", many_cli)


def show(what: str, seconds: float) -> None:
    print(f"  {what:<31}{seconds:6.3f}s = {seconds / BUDGET_S:.3f} x the 2s budget")


if __name__ == "__main__":
    main()
