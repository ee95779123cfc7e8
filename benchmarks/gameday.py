"""Run the nightly game day N times on one warm stack; print the MTTx distribution.

For each run: MTTD, time to page, MTTM and MTTR, next to the floor read from the live configs,
and the wall time of `mlchaos gameday`. Then p50/p90 and each figure's ratio to its target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("registry", "model-server", "pagerduty", "rollback-controller", "prometheus",
              "alertmanager")
TARGETS = {"mttd": 5.0, "mttr": 30.0, "wall_s": 60.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlchaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlchaos", *args], cwd=ROOT, text=True,
                          capture_output=True)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "nightly.yaml"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlchaos-bench-"))
    state = work / "stack"
    ports = [arg for c in COMPONENTS for arg in ("--port", f"{c}={free_port()}")]
    mlchaos("up", "--state-dir", str(state), *ports).check_returncode()
    rows: list[dict[str, float]] = []
    try:
        for i in range(args.runs):
            reports = work / f"reports-{i}"
            started = time.perf_counter()
            done = mlchaos("gameday", args.scenario, "--state-dir", str(state),
                           "--report-dir", str(reports))
            wall = time.perf_counter() - started
            [run] = list(reports.iterdir())
            document = json.loads((run / "results.json").read_text())
            exp = document["experiments"][0]
            d = exp["durations_s"]
            rows.append({"mttd": d["mttd"], "page": d["time_to_page"], "mttm": d["mttm"],
                         "mttr": d["mttr"], "floor": exp["floor_s"], "wall_s": wall,
                         "rps": document["load"]["achieved_rps"], "exit": done.returncode})
            r = rows[-1]
            print(f"run {i + 1}: exit {done.returncode} {exp['verdict']:<5} mttd {r['mttd']:.2f}s "
                  f"page {r['page']:.2f}s mttm {r['mttm']:.2f}s mttr {r['mttr']:.2f}s "
                  f"floor {r['floor']:g}s wall {wall:.1f}s load {r['rps']:g} req/s", flush=True)
    finally:
        mlchaos("down", "--state-dir", str(state))
        shutil.rmtree(work, ignore_errors=True)
    print()
    for key in ("mttd", "page", "mttm", "mttr", "wall_s"):
        values = [r[key] for r in rows if r[key] is not None]
        p50, p90 = statistics.median(values), quantile(values, 0.9)
        line = f"{key:<7} p50 {p50:6.2f}s  p90 {p90:6.2f}s  max {max(values):6.2f}s"
        if key in TARGETS:
            line += f"  p90/target {p90 / TARGETS[key]:.2f}"
            line += f"  within target {sum(v <= TARGETS[key] for v in values)}/{len(values)}"
        if key in ("mttd", "page"):
            line += f"  p50/floor {p50 / rows[0]['floor']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
