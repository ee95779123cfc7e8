"""No-fault soak: nominal traffic for N minutes on a fresh stack must raise no alert.

Counts every alert that reached pending or firing (Prometheus ALERTS over the whole window)
and every incident the PagerDuty receiver opened. The thresholds are calibrated when both
are zero. Default: 10 minutes at the nightly scenario's 500 req/s.
"""

from __future__ import annotations

import argparse
import json
import time

import requests
from _stack import bench_stack

from mlchaos.load.payload import prepare
from mlchaos.load.runner import Locust
from mlchaos.protocols import Codec
from mlchaos.schema import Load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    with bench_stack() as (cfg, work):
        prometheus, ca = cfg.url("prometheus"), str(cfg.tls_dir / "cert.pem")
        started = time.time()
        payload = prepare(Codec(), work / "payload.jsonl", dataset=cfg.traffic_path)
        with Locust(
            Load(users=args.users, rate=args.rate),
            cfg.url("gateway"),
            cfg.model_name,
            payload,
            work,
            labels_path="/v2/models/{model}/labels",
        ) as locust:
            while time.time() - started < args.minutes * 60:
                time.sleep(30)
                print(f"  {time.time() - started:5.0f}s", flush=True)
        window = f"{int(time.time() - started) + 5}s"
        query = f"count by (alertname, alertstate) (count_over_time(ALERTS[{window}]))"
        alerts = requests.get(
            f"{prometheus}/api/v1/query", params={"query": query}, timeout=10
        ).json()["data"]["result"]
        incidents = requests.get(f"{cfg.url('pagerduty')}/incidents", verify=ca, timeout=10).json()[
            "incidents"
        ]
        stats = locust.stats
        print(
            json.dumps(
                {
                    "minutes": args.minutes,
                    "load": stats.model_dump() if stats else None,
                    "alerts_pending_or_firing": [a["metric"] for a in alerts],
                    "incidents": [i["summary"] for i in incidents],
                },
                indent=2,
            )
        )
        print(f"false alarms: {len(alerts)} alert series, {len(incidents)} incidents")


if __name__ == "__main__":
    main()
