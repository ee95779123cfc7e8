"""How much load Locust sends as one process, and as a master with workers, in one run.

The upstream is nginx answering a fixed Open Inference Protocol answer, so the model server is
never the limit: Locust's own CPU is. Each configuration goes through mlchaos's own load runner
(`mlchaos.load.runner.Locust`, as a game day starts it) with far more offered than it can send,
and the rate it sustains is read at the upstream, from nginx's request counter (stub_status),
over a window after the users have spawned. Configurations alternate, ``--runs`` times each;
the median is kept. Locust's combined stats (the master's, for workers) are checked against
nginx's count: what mlchaos reports is what arrived.

Prints each run, the medians, and the ratio of 2 workers to one process against the issue's
target (≥ 1.6×). Exits 1 if it is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gateway_overhead import ANSWER, BODY, free_port, nginx_conf, wait_port

from mlchaos.load.runner import SPAWN_S, Locust
from mlchaos.schema import Load

TARGET = 1.6
OFFERED = 20_000.0
"""Requests per second asked for: several times what one core of Locust sends."""


def served(status_url: str) -> int:
    with urllib.request.urlopen(status_url, timeout=5) as answer:
        text = answer.read().decode()
    return int(re.search(r"\n\s*\d+\s+\d+\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def sustained(
    workers: int, users: int, host: str, status_url: str, payload: Path, out: Path, window: float
) -> tuple[float, float, int, int]:
    """(rate at the upstream over the window, Locust's achieved rate, Locust's requests,
    the upstream's count over Locust's whole run)."""
    load = Load(users=users, rate=OFFERED, workers=workers)  # no labels path: none posted
    before = served(status_url)
    with Locust(load, host, "m", payload, out) as locust:
        time.sleep(SPAWN_S + 2)  # the users spawned and running
        start, first = time.monotonic(), served(status_url)
        time.sleep(window)
        rate = (served(status_url) - first) / (time.monotonic() - start)
    stats = locust.stats
    assert stats is not None, f"no stats from Locust; see {out / 'locust.log'}"
    return rate, stats.achieved_rps, stats.requests, served(status_url) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per run")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        up = free_port()
        answer = ANSWER.replace("'", "\\'")
        nginx = subprocess.Popen(
            [
                "nginx",
                "-c",
                str(
                    nginx_conf(
                        work,
                        "upstream",
                        f"""
  server {{ listen 127.0.0.1:{up}; default_type application/json;
           location = /status {{ stub_status; }}
           location / {{ return 200 '{answer}'; }} }}""",
                    )
                ),
            ]
        )
        try:
            wait_port(up)
            payload = work / "payload.jsonl"
            payload.write_text(json.dumps({"body": json.loads(BODY), "label": None}) + "\n")
            host, status_url = f"http://127.0.0.1:{up}", f"http://127.0.0.1:{up}/status"
            rates: dict[int, list[float]] = {0: [], args.workers: []}
            print(
                f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores, "
                f"{args.users} users offered {OFFERED:,.0f} req/s, {args.window:g} s measured "
                f"per run at the upstream, {args.runs} runs per configuration, alternating"
            )
            failed = 0
            for run in range(args.runs):
                for workers in rates:
                    out = work / f"run{run}-{workers}"
                    rate, achieved, requests, counted = sustained(
                        workers, args.users, host, status_url, payload, out, args.window
                    )
                    rates[workers].append(rate)
                    name = "1 process" if not workers else f"{workers} workers"
                    agree = abs(requests - counted) <= 0.05 * counted
                    failed += not agree
                    print(
                        f"{name:<10} {rate:8,.0f} req/s at the upstream; Locust's stats: "
                        f"{requests:,} requests ({achieved:,.0f} req/s over its run), the "
                        f"upstream counted {counted:,} {'✓' if agree else '✗ (> 5% apart)'}"
                    )
            one, many = statistics.median(rates[0]), statistics.median(rates[args.workers])
            print(
                f"\n## median sustained rate\n1 process  {one:8,.0f} req/s\n"
                f"{args.workers} workers  {many:8,.0f} req/s"
            )
            ratio = many / max(one, 1.0)
            ok = ratio >= TARGET
            failed += not ok
            print(
                f"\n## against the target\n{'✓' if ok else '✗'} {args.workers} workers against "
                f"one Locust process: {ratio:.2f}×, target ≥ {TARGET:g}×"
            )
        finally:
            nginx.terminate()
            nginx.wait(10)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
