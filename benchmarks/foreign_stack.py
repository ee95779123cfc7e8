"""MTTD, MTTM and MTTR per fault on the fraud team's staging (MLServer 1.7.1, MLflow, its own
rules: `examples/mlserver-mlflow`) beside the reference stack's nightly, measured in one run:
each run plays the reference nightly, then the example's scenario, on stacks started here.

Needs the example team's virtualenv (`make example-setup`). Exits 1 unless every game day
passed; its output is kept in `benchmarks/results/foreign_stack.txt`.
Usage: .venv/bin/python benchmarks/foreign_stack.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _stack import ROOT, bench_stack, mlchaos

EXAMPLE = ROOT / "examples" / "mlserver-mlflow"
PYTHON = ROOT / ".venv-example" / "bin" / "python"
KEYS = ("mttd", "mttm", "mttr")
SECRETS = {
    "FRAUD_MONITORING_PASSWORD": "monitoring-password",
    "FRAUD_PAGERDUTY_TOKEN": "pagerduty-api-token",
}


def durations(reports: Path, verdicts: list[str]) -> dict[str, dict[str, float | None]]:
    """Each fault's team-caused durations (a simulated one, mlchaos's doing, is left out)."""
    [run] = list(reports.iterdir())
    document = json.loads((run / "results.json").read_text())
    print(f"  {document['scenario']}: {document['verdict']}", flush=True)
    verdicts.append(document["verdict"])
    found: dict[str, dict[str, float | None]] = {}
    for e in document["experiments"]:
        fault = e["fault"]
        if sum(x["fault"] == fault for x in document["experiments"]) > 1:
            fault = f"{fault} ({e['name'].removeprefix('fraud-')})"
        simulated = e.get("simulated") or {}
        found[fault] = {k: v for k, v in e["durations_s"].items() if k not in simulated}
        if e["verdict"] != "pass":
            print(f"    {e['name']}: {e['verdict']}: {'; '.join(e['reasons'])}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if not PYTHON.exists():
        raise SystemExit(f"{PYTHON} is missing: run `make example-setup`")
    seen: dict[str, dict[str, dict[str, list[float]]]] = {
        "reference": defaultdict(lambda: defaultdict(list)),
        "example": defaultdict(lambda: defaultdict(list)),
    }
    work = Path(tempfile.mkdtemp(prefix="mlchaos-foreign-"))
    stack = [str(PYTHON), str(EXAMPLE / "stack.py")]
    subprocess.run([*stack, "up", "--state", str(work / "example"), "--mlchaos",
                    str(Path(sys.executable).parent / "mlchaos")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    print("the fraud team's staging is up", flush=True)
    # The variables the example's service file names, as `make gameday-example` exports them.
    for variable, name in SECRETS.items():
        os.environ[variable] = (work / "example" / name).read_text().strip()
    verdicts: list[str] = []
    try:
        with bench_stack() as (cfg, scratch):
            for i in range(args.runs):
                print(f"run {i + 1}", flush=True)
                for name, command in (
                    ("reference", ["gameday", str(ROOT / "scenarios" / "nightly.yaml"),
                                   "--state-dir", str(cfg.state_dir)]),
                    ("example", ["gameday", str(EXAMPLE / "scenario.yaml"), "--service",
                                 str(work / "example" / "service.yaml")]),
                ):  # fmt: skip
                    reports = scratch / f"{name}-{i}"
                    done = mlchaos(*command, "--report-dir", str(reports))
                    table = done.stdout.split("\nreports:")[0].rstrip()
                    print("\n".join(f"    {line}" for line in table.splitlines()), flush=True)
                    for fault, found in durations(reports, verdicts).items():
                        for key in KEYS:
                            if found.get(key) is not None:
                                seen[name][fault][key].append(float(found[key]))  # type: ignore[arg-type]
    finally:
        subprocess.run([*stack, "down", "--state", str(work / "example")])
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'fault':<34} {'':>6} " + " ".join(f"{k.upper():>16}" for k in KEYS))
    print(f"{'':<34} {'':>6} " + " ".join(f"{'ref / example':>16}" for _ in KEYS))
    for fault in sorted(set(seen["reference"]) | set(seen["example"])):
        cells = []
        for key in KEYS:
            ref, ex = seen["reference"][fault][key], seen["example"][fault][key]
            shown = [f"{statistics.median(v):.1f}s" if v else "-" for v in (ref, ex)]
            cells.append(f"{shown[0]:>7} / {shown[1]:<6}")
        print(f"{fault:<34} {'p50':>6} " + " ".join(cells))
    green = sum(v == "pass" for v in verdicts)
    print(f"\n{green} of {len(verdicts)} game days green (MTTA is the simulated responder's, "
          "left out)")
    raise SystemExit(0 if verdicts and green == len(verdicts) else 1)


if __name__ == "__main__":
    main()
