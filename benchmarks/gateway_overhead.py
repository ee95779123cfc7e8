"""What the gateway adds to a request, next to nginx, against a fast upstream, in one run.

Three paths to the same upstream, measured in alternating slices so machine noise hits all
alike: ``direct`` (the upstream itself), ``nginx`` (nginx 1.22 as a reverse proxy with
upstream keep-alive: the reference hop) and ``gateway`` (``mlchaos gateway``, no fault
active, in one worker and in one per core (the default); then the default with an error
burst active that answers 0.5% of requests with a 503, timing the others, beside nginx again).
The upstream is nginx answering a fixed Open Inference Protocol answer (``model_version``
included), so its own noise does not hide the hop's. Load is open-loop (sent on a fixed
schedule, so a slow answer does not slow the sender) from a minimal HTTP/1.1 client on uvloop,
over keep-alive connections.

Prints, per rate: p50/p99 per path, what each hop adds, and the CPU each hop's processes
used per 10k requests; then the highest rate each path holds with p99 under 10 ms; then each
figure against the issue's target. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

ROOT = Path(__file__).resolve().parent.parent
ANSWER = json.dumps(
    {"model_name": "m", "model_version": "v1", "id": "x",
     "outputs": [{"name": "predict", "shape": [1, 1], "datatype": "FP64", "data": [0.12]}]}
)  # fmt: skip
BODY = json.dumps(
    {"inputs": [{"name": f"f{i}", "datatype": "FP64", "shape": [1], "data": [float(i)]}
                for i in range(8)]}
).encode()  # fmt: skip
PATH = "/v2/models/m/infer"
P99_CEILING_MS = 10.0
MAX_CONNECTIONS = 256
FAULT_SHARE = 0.005
WORKERS = os.cpu_count() or 1
"""The gateway's default: one worker per core."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {timeout}s")


def nginx_conf(workdir: Path, name: str, body: str) -> Path:
    conf = workdir / f"{name}.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}.error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/{name}-body;
  proxy_temp_path {workdir}/{name}-proxy;
  fastcgi_temp_path {workdir}/{name}-fcgi;
  uwsgi_temp_path {workdir}/{name}-uwsgi;
  scgi_temp_path {workdir}/{name}-scgi;
  keepalive_requests 1000000;
  {body}
}}
"""
    )
    return conf


@contextmanager
def paths(workdir: Path) -> Iterator[dict[str, tuple[str, list[int]]]]:
    """Start the upstream, nginx and the gateway; yield url and pids per path."""
    up, ng, gw, gw2 = free_port(), free_port(), free_port(), free_port()
    answer = ANSWER.replace("'", "\\'")
    procs = [
        subprocess.Popen(["nginx", "-c", str(nginx_conf(workdir, "upstream", f"""
  server {{ listen 127.0.0.1:{up}; default_type application/json;
           location / {{ return 200 '{answer}'; }} }}"""))]),
        subprocess.Popen(["nginx", "-c", str(nginx_conf(workdir, "proxy", f"""
  upstream model {{ server 127.0.0.1:{up}; keepalive 64; }}
  server {{ listen 127.0.0.1:{ng};
           location / {{ proxy_pass http://model; proxy_http_version 1.1;
                        proxy_set_header Connection ""; }} }}"""))]),
        *(subprocess.Popen(
            [sys.executable, "-m", "mlchaos", "gateway", "--upstream", f"http://127.0.0.1:{up}",
             "--model", "m", "--port", str(port), "--state-dir", str(workdir / f"gateway{n}"),
             "--workers", str(n)],
            stderr=subprocess.DEVNULL,
        ) for port, n in ((gw, 1), (gw2, WORKERS))),
    ]  # fmt: skip
    try:
        for port in (up, ng, gw, gw2):
            wait_port(port)
        time.sleep(2)  # both workers up
        yield {
            "direct": (f"http://127.0.0.1:{up}{PATH}", []),
            "nginx": (f"http://127.0.0.1:{ng}{PATH}", family(procs[1].pid)),
            "gateway-1w": (f"http://127.0.0.1:{gw}{PATH}", family(procs[2].pid)),
            "gateway": (f"http://127.0.0.1:{gw2}{PATH}", family(procs[3].pid)),
            "admin": (f"http://127.0.0.1:{gw2}/admin/faults", []),
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def family(pid: int) -> list[int]:
    """A process and its children (nginx's workers), read once they are up."""
    time.sleep(0.3)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Connection(asyncio.Protocol):
    """One keep-alive connection of the load's client: one request at a time, answers read
    by their Content-Length (every path here sends one). Cheaper than an HTTP library, so
    the client's own cost does not hide the hop's."""

    def __init__(self, pool: Pool) -> None:
        self.pool, self.buffer, self.started = pool, b"", 0.0
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, wire: bytes) -> None:
        assert self.transport is not None
        self.started = time.perf_counter()
        self.transport.write(wire)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[end + 4 + length :]
        self.pool.answered(self, status, (time.perf_counter() - self.started) * 1000)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class Pool:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.wire = (
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (parts.path.encode(), parts.netloc.encode(), len(BODY), BODY)
        )
        self.idle: list[Connection] = []
        self.latencies: list[float] = []
        self.errors = 0
        self.selected = 0
        self.selected_status = 0
        """The status a fault answers the requests it selects with (they are counted apart)."""
        self.pending = 0
        self.drained: asyncio.Event = asyncio.Event()
        self.achieved = 0.0
        self.opened = 0
        self.queued: collections.deque[float] = collections.deque()
        self.tasks: set[asyncio.Task[None]] = set()
        """Answers per second over the last slice, from its first send to its last answer."""

    def request(self) -> None:
        """Send one now: on an idle connection, a new one (up to `MAX_CONNECTIONS`), or the
        next connection to come free, timed from now all the same."""
        self.pending += 1
        self.drained.clear()
        if self.idle:
            self.idle.pop().send(self.wire)
        elif self.opened < MAX_CONNECTIONS:
            self.opened += 1
            task = asyncio.get_running_loop().create_task(self._open(time.perf_counter()))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            self.queued.append(time.perf_counter())

    async def _open(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Connection(self), *self.address)
        except OSError:
            self.opened -= 1
            self.errors += 1
            self._done()
            return
        conn.send(self.wire)
        conn.started = started  # the wait for a connection is the request's too

    def _done(self) -> None:
        self.pending -= 1
        if not self.pending:
            self.drained.set()

    def answered(self, conn: Connection, status: int, ms: float) -> None:
        if status == 200:
            self.latencies.append(ms)
        elif status == self.selected_status:  # a fault's answer: not an unselected request
            self.selected += 1
        else:
            self.errors += 1
        self._done()
        if self.queued:
            conn.send(self.wire)
            conn.started = self.queued.popleft()
        else:
            self.idle.append(conn)

    def lost(self, conn: Connection) -> None:
        self.opened -= 1
        if conn in self.idle:
            self.idle.remove(conn)


POOLS: dict[str, Pool] = {}


async def slice_(url: str, rate: float, seconds: float, errors_ok: bool = False) -> list[float]:
    """Open loop: request i goes at start + i/rate, on an idle connection or a new one."""
    pool = POOLS.setdefault(url, Pool(url))
    pool.latencies, pool.errors, pool.selected = [], 0, 0
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pool.request()
    if pool.pending:
        await asyncio.wait_for(pool.drained.wait(), 60)
    if pool.errors and not errors_ok:
        raise SystemExit(f"{pool.errors} answers other than 200 from {url}")
    pool.achieved = int(rate * seconds) / (time.perf_counter() - start)
    return list(pool.latencies)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def at_rate(
    urls: dict[str, tuple[str, list[int]]],
    names: list[str],
    rate: float,
    seconds: float,
    slices: int,
) -> dict[str, dict[str, float]]:
    """p50, p99 (median of slices) and CPU per 10k requests, per path."""
    pooled: dict[str, list[float]] = {n: [] for n in names}
    p99s: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    selected: dict[str, int] = dict.fromkeys(names, 0)
    for name in names:
        await slice_(urls[name][0], rate, 1)  # warm
    for _ in range(slices):
        for name in names:
            url, pids = urls[name]
            before = cpu_seconds(pids)
            latencies = await slice_(url, rate, seconds)
            cpu[name] += cpu_seconds(pids) - before
            pooled[name] += latencies
            selected[name] += POOLS[url].selected
            p99s[name].append(pct(latencies, 0.99))
    return {
        n: {"p50": pct(pooled[n], 0.5), "p99": statistics.median(p99s[n]),
            "cpu10k": cpu[n] / (len(pooled[n]) + selected[n]) * 10_000,
            "selected": selected[n], "answered": len(pooled[n]) + selected[n]}
        for n in names
    }  # fmt: skip


async def highest_held(url: str, start: float, step: float, seconds: float) -> float:
    """The highest rate at which p99 stays under the ceiling and every request is answered
    at the rate sent, 95% of it at least, none shed or failed (two tries per rate)."""
    held, rate = 0.0, start
    while rate <= 40_000:
        ok = False
        for _ in range(2):
            latencies = await slice_(url, rate, seconds, errors_ok=True)
            pool = POOLS[url]
            if (not pool.errors and pct(latencies, 0.99) < P99_CEILING_MS
                    and pool.achieved >= 0.95 * rate):  # fmt: skip
                ok = True
                break
        if not ok:
            return held
        held, rate = rate, rate + step
    return held


def admin(method: str, url: str, document: dict[str, object] | None = None) -> dict:
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


async def measure(args: argparse.Namespace, urls: dict[str, tuple[str, list[int]]]) -> int:
    failed = 0
    rows = {}
    for rate in args.rates:
        rows[rate] = await at_rate(
            urls, ["direct", "nginx", "gateway-1w", "gateway"], rate, args.seconds, args.slices
        )
    # a fault active: an error burst answers 0.5% of requests with a 503; what it adds to
    # the others (the unselected requests, every 200) is what the target bounds
    lease = admin("POST", urls["admin"][0], {
        "type": "error_burst", "params": {"status": 503},
        "share": FAULT_SHARE, "seed": 1, "ttl_s": 600, "holder": "benchmark"})["lease"]  # fmt: skip
    POOLS.setdefault(urls["gateway"][0], Pool(urls["gateway"][0])).selected_status = 503
    faulted = await at_rate(
        urls, ["direct", "nginx", "gateway"], args.rates[-1], args.seconds, args.slices
    )  # nginx again, side by side: the bound is against nginx in the same slices
    POOLS[urls["gateway"][0]].selected_status = 0
    admin("DELETE", f"{urls['admin'][0]}/{lease['id']}?actor=benchmark")
    ceilings = {
        name: await highest_held(urls[name][0], args.rates[-1], args.step, args.seconds)
        for name in ("direct", "nginx", "gateway-1w", "gateway")
    }
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores, "
          f"{args.slices} slices of {args.seconds:g} s per path and rate, alternating")  # fmt: skip
    for rate, row in rows.items():
        print(f"\n## {rate:g} req/s, no fault active")
        for name, m in row.items():
            cpu = "" if name == "direct" else f"  CPU {m['cpu10k']:.2f} s per 10k requests"
            print(f"{name:<10} p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms{cpu}")
        d = row["direct"]
        for hop in ("nginx", "gateway-1w", "gateway"):
            print(f"{hop} adds p50 +{row[hop]['p50'] - d['p50']:.2f} ms, "
                  f"p99 +{row[hop]['p99'] - d['p99']:.2f} ms")  # fmt: skip
    rate = args.rates[-1]
    f = faulted
    print(
        f"\n## {rate:g} req/s, an error burst active: it answers {FAULT_SHARE:.1%} of requests "
        "with a 503"
    )
    g = f["gateway"]
    share = g["selected"] / max(g["answered"], 1)
    print(f"selected {g['selected']:,} of {g['answered']:,} answers ({share:.2%}); "
          "the latencies below are the unselected requests' (the 200s)")  # fmt: skip
    print(f"nginx adds p50 +{f['nginx']['p50'] - f['direct']['p50']:.2f} ms, "
          f"p99 +{f['nginx']['p99'] - f['direct']['p99']:.2f} ms (no fault: nothing to select)")
    print(f"gateway adds p50 +{f['gateway']['p50'] - f['direct']['p50']:.2f} ms, "
          f"p99 +{f['gateway']['p99'] - f['direct']['p99']:.2f} ms, "
          f"CPU {f['gateway']['cpu10k']:.2f} s per 10k requests")  # fmt: skip
    print(f"\n## highest rate held with p99 under {P99_CEILING_MS:g} ms "
          f"(steps of {args.step:g} req/s from {rate:g})")  # fmt: skip
    for name, held in ceilings.items():
        print(f"{name:<10} {held:,.0f} req/s")

    print("\n## against the targets")
    low, high = rows[args.rates[0]], rows[args.rates[-1]]

    def added(row: dict[str, dict[str, float]], hop: str) -> float:
        return max(row[hop]["p99"] - row["direct"]["p99"], 0.0)

    ratio = ceilings["gateway"] / max(ceilings["gateway-1w"], 1.0)
    nginx_added = max(added(high, "nginx"), 0.05)
    checks = [  # (what, measured, bound, unit, at most or at least)
        (f"added p99 at {args.rates[0]:g} req/s", added(low, "gateway"), 1.0, " ms", "≤"),
        (f"added p99 at {rate:g} req/s against nginx's ({nginx_added:.2f} ms)",
         added(high, "gateway") / nginx_added, 2.0, "×", "≤"),
        (f"CPU per 10k requests at {args.rates[0]:g} req/s", low["gateway"]["cpu10k"], 1.5,
         " s", "≤"),
        (f"CPU per 10k requests at {rate:g} req/s", high["gateway"]["cpu10k"], 1.5, " s", "≤"),
        (f"added p99 at {rate:g} req/s, a fault active, against nginx's in the same slices "
         f"({max(added(f, 'nginx'), 0.05):.2f} ms)",
         added(f, "gateway") / max(added(f, "nginx"), 0.05), 2.0, "×", "≤"),
        ("share of answers the error burst selected (the fault was active)",
         100 * f["gateway"]["selected"] / max(f["gateway"]["answered"], 1), 0.25, "%", "≥"),
        (f"highest rate held, {WORKERS} workers against 1", ratio, 1.3, "×", "≥"),
    ]  # fmt: skip
    for what, value, bound, unit, sense in checks:
        ok = value <= bound if sense == "≤" else value >= bound
        failed += not ok
        print(f"{'✓' if ok else '✗'} {what}: {value:.2f}{unit}, target {sense} {bound:g}{unit}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[500.0, 2000.0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per slice")
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--step", type=float, default=1000.0)
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is the reference hop: apt-get install -y nginx")
    with (
        tempfile.TemporaryDirectory() as tmp,
        paths(Path(tmp)) as urls,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        code = runner.run(measure(args, urls))
    sys.exit(code)


if __name__ == "__main__":
    main()
