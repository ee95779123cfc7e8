"""Run the nightly game day N times on one warm stack; print MTTx per fault, and wall time.

For each run and experiment: MTTD, time to page, MTTM and MTTR, next to the floor read from
the live configs. Then, per fault, p50/p90 and the share of runs within target, and the wall
time of `mlchaos gameday` against its budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

from _stack import ROOT, bench_stack, mlchaos

WALL_BUDGET_S = 300.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "nightly.yaml"))
    args = parser.parse_args()
    by_fault: dict[str, list[dict[str, float | None]]] = defaultdict(list)
    targets: dict[str, dict[str, float]] = {}
    walls, loads = [], []
    with bench_stack() as (cfg, work):
        for i in range(args.runs):
            reports = work / f"reports-{i}"
            started = time.perf_counter()
            done = mlchaos(
                "gameday",
                args.scenario,
                "--state-dir",
                str(cfg.state_dir),
                "--report-dir",
                str(reports),
            )
            walls.append(time.perf_counter() - started)
            [run] = list(reports.iterdir())
            document = json.loads((run / "results.json").read_text())
            loads.append(document["load"]["achieved_rps"])
            print(
                f"run {i + 1}: exit {done.returncode}, verdict {document['verdict']}, "
                f"wall {walls[-1]:.1f}s, load {loads[-1]} req/s",
                flush=True,
            )
            for exp in document["experiments"]:
                d = exp["durations_s"]
                by_fault[exp["fault"]].append({**d, "floor": exp["floor_s"]})
                targets[exp["fault"]] = exp["targets_s"]
                print(
                    f"  {exp['fault']:<17} {exp['verdict']:<5} "
                    + "  ".join(
                        f"{k} {d[k]:.2f}s" if d.get(k) is not None else f"{k} -"
                        for k in ("mttd", "time_to_page", "mttm", "mttr")
                    ),
                    flush=True,
                )
    print()
    for fault, rows in by_fault.items():
        for key in ("mttd", "mttr"):
            values = [r[key] for r in rows if r[key] is not None]
            if not values:
                continue
            target = targets[fault].get(key)
            within = sum(v <= target for v in values) if target else len(values)
            print(
                f"{fault:<17} {key} p50 {statistics.median(values):5.2f}s "
                f"p90 {quantile(values, 0.9):5.2f}s  within target {within}/{len(rows)}"
                + (
                    f"  p50/floor {statistics.median(values) / rows[0]['floor']:.2f}"
                    if key == "mttd" and rows[0]["floor"]
                    else ""
                )
            )
    print(
        f"wall time p50 {statistics.median(walls):.1f}s (budget {WALL_BUDGET_S:g}s, "
        f"ratio {statistics.median(walls) / WALL_BUDGET_S:.2f}); load p50 "
        f"{statistics.median(loads)} req/s"
    )


if __name__ == "__main__":
    main()
