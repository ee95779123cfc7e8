"""Gateway overhead with no fault active: the same open-loop load, direct and through the gateway.

Both paths are measured in one run, in alternating slices, so machine noise hits both alike.
Requests are sent on a fixed schedule (open loop), so a slow response does not slow the
sender and hide queueing. Prints p50/p99 per path, the added p99 in ms, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
from _stack import bench_stack

from mlchaos.reference.dataset import FEATURES, REPLAY_SEED, generate


def bodies() -> list[bytes]:
    rows = generate(500, seed=REPLAY_SEED).features
    return [
        json.dumps(
            {
                "inputs": [
                    {"name": f, "datatype": "FP64", "shape": [1], "data": [float(v)]}
                    for f, v in zip(FEATURES, row, strict=True)
                ]
            }
        ).encode()
        for row in rows
    ]


async def slice_(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float, payloads: list[bytes]
) -> list[float]:
    latencies: list[float] = []

    async def one(body: bytes) -> None:
        started = time.perf_counter()
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
            await r.read()
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(payloads[i % len(payloads)])))
    await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(direct: str, gateway: str, rate: float, seconds: float, slices: int) -> None:
    payloads = bodies()
    pooled: dict[str, list[float]] = {"direct": [], "gateway": []}
    per_slice: dict[str, list[float]] = {"direct": [], "gateway": []}
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        await slice_(session, direct, rate, 2, payloads)  # warm both paths
        await slice_(session, gateway, rate, 2, payloads)
        for _ in range(slices):
            for name, url in (("direct", direct), ("gateway", gateway)):
                latencies = await slice_(session, url, rate, seconds, payloads)
                pooled[name] += latencies
                per_slice[name].append(pct(latencies, 0.99))
    for name in pooled:
        print(
            f"{name:<8} n={len(pooled[name]):5d}  p50 {pct(pooled[name], 0.5):6.2f} ms  "
            f"p99 pooled {pct(pooled[name], 0.99):7.2f} ms  "
            f"p99 median of {slices} slices {statistics.median(per_slice[name]):6.2f} ms"
        )
    added50 = pct(pooled["gateway"], 0.5) - pct(pooled["direct"], 0.5)
    d99, g99 = statistics.median(per_slice["direct"]), statistics.median(per_slice["gateway"])
    print(
        f"added by the gateway at {rate:g} req/s: p50 +{added50:.2f} ms, p99 (median of "
        f"slices) +{g99 - d99:.2f} ms, target <= 1 ms; p99 ratio {g99 / d99:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=5.0, help="per slice")
    parser.add_argument("--slices", type=int, default=4)
    args = parser.parse_args()
    with bench_stack() as (cfg, _):
        path = f"/v2/models/{cfg.model_name}/infer"
        asyncio.run(
            measure(
                cfg.url("model-server") + path,
                cfg.url("gateway") + path,
                args.rate,
                args.seconds,
                args.slices,
            )
        )


if __name__ == "__main__":
    main()
