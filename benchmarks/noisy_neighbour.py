"""The nightly beside a noisy neighbour: N game days while another process keeps one core busy.

CI runners are shared: the nightly must stay green when something else burns a core. Prints,
per run, the verdict, the false alarms (pages or rollbacks before any fault) and the collateral
pages (other alerts paging during an experiment), then the pass rate. The neighbour is a plain
busy loop in its own process, bounded in time, started before the stack and stopped after.

    .venv/bin/python benchmarks/noisy_neighbour.py --runs 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _stack import ROOT, bench_stack, mlchaos

BUSY = "import time\nend = time.time() + {limit}\nwhile time.time() < end:\n    pass\n"


def neighbour(limit_s: float) -> subprocess.Popen[bytes]:
    """One core kept busy for at most ``limit_s``, by a process that stops by itself."""
    return subprocess.Popen([sys.executable, "-c", BUSY.format(limit=limit_s)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "nightly.yaml"))
    args = parser.parse_args()
    busy = neighbour(limit_s=args.runs * 400.0)
    green = false_alarms = collateral = 0
    started = time.perf_counter()
    try:
        with bench_stack() as (cfg, work):
            for i in range(args.runs):
                reports = work / f"reports-{i}"
                done = mlchaos(
                    "gameday", args.scenario, "--state-dir", str(cfg.state_dir),
                    "--report-dir", str(reports),
                )  # fmt: skip
                [run] = list(reports.iterdir())
                document = json.loads((run / "results.json").read_text())
                green += document["verdict"] == "pass" and done.returncode == 0
                false_alarms += len(document["false_alarms"])
                pages = [p for e in document["experiments"] for p in e.get("pages", [])]
                stray = [p for p in pages if p["role"] == "collateral"]
                collateral += len(stray)
                print(
                    f"run {i + 1}: exit {done.returncode}, verdict {document['verdict']}, "
                    f"false alarms {len(document['false_alarms'])}, pages {len(pages)} "
                    f"({len(stray)} collateral: "
                    f"{', '.join(sorted({str(p['alert']) for p in stray})) or '-'}), "
                    f"load {document['load']['achieved_rps']} req/s",
                    flush=True,
                )
                for alarm in document["false_alarms"]:
                    print(f"  FALSE ALARM: {alarm}", flush=True)
                for exp in document["experiments"]:
                    if exp["verdict"] != "pass":
                        print(f"  {exp['name']} {exp['verdict']}: {exp['reasons']}", flush=True)
    finally:
        busy.kill()
    print(
        f"\nnoisy neighbour (one core busy): {green}/{args.runs} green, "
        f"{false_alarms} false alarm(s), {collateral} collateral page(s); "
        f"{time.perf_counter() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
