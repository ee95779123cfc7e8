"""Replays a service's requests to the model, in the service's own protocol.

Stands on its own:

    locust -f mlchaos/load/locustfile.py --host http://127.0.0.1:18000 --headless -u 10 \
        --mlchaos-user-rate 10 --mlchaos-model credit-risk --mlchaos-payload requests.jsonl \
        --mlchaos-labels-path '/v2/models/{model}/labels'

The payload is JSON lines of ``{"body": request, "label": outcome or null}``: mlchaos writes it
from the service file's dataset and protocol (`mlchaos.load.payload.prepare`).

Distributed (``load.workers``): the master is started with these options, each worker with
``--worker`` and, on the same machine, ``--mlchaos-payload``. A worker on another machine needs
only Locust: ``locust --worker -f - --master-host HOST --master-port PORT`` fetches this file
from the master, and with ``--mlchaos-share-payload`` the master sends the payload's rows with
the options of every run. Users are numbered across workers (worker index × 1000 + own count),
so request ids, replay offsets and label draws never repeat between workers.

Each user walks the replay table from its own deterministic offset, on a fixed schedule, and
does not wait for one reply before sending the next request (up to ``concurrency`` in flight):
clients of a real service do not slow down when it does, so neither does the load during a
latency fault (Locust's ``constant_throughput`` would quietly lower it).
An Open Inference Protocol request carries an id; with ``--mlchaos-labels-path``, for a seeded
share of them the true outcome (the label) is posted back there after ``--mlchaos-label-lag``
seconds, as the business would learn it later.
"""

import json
import random
import time

import gevent
from locust import FastHttpUser, events, task

__all__ = ["BODIES", "LABELS", "MAX_BEHIND_S", "USERS_PER_WORKER", "ModelUser"]

MAX_BEHIND_S = 2.0
USERS_PER_WORKER = 1000
"""Users are numbered from worker index × this (a scenario has at most 1000 users)."""
BODIES = []
LABELS = []


@events.init_command_line_parser.add_listener
def _options(parser):
    # not required by the parser: a worker gets them from its master
    parser.add_argument("--mlchaos-model", default="", help="model name to call")
    parser.add_argument(
        "--mlchaos-payload", default="", help="JSON lines of {body, label} to replay"
    )
    parser.add_argument(
        "--mlchaos-share-payload",
        action="store_true",
        help="master: send the payload's rows to workers (for workers on other machines)",
    )
    parser.add_argument(
        "--mlchaos-ready-file", default="", help="master: written once its workers are connected"
    )
    parser.add_argument(
        "--mlchaos-infer-path",
        default="/v2/models/{model}/infer",
        help="where requests go; {model} is filled in",
    )
    parser.add_argument(
        "--mlchaos-labels-path", default="", help="where labels go ({model} filled in); '': never"
    )
    parser.add_argument(
        "--mlchaos-user-rate", type=float, default=10.0, help="requests per second per user"
    )
    parser.add_argument(
        "--mlchaos-label-lag",
        type=float,
        default=5.0,
        help="seconds before a request's label is posted back",
    )
    parser.add_argument(
        "--mlchaos-labelled",
        type=float,
        default=0.2,
        help="share of requests whose label is ever posted",
    )


def _worker(environment):
    return type(environment.runner).__name__ == "WorkerRunner"


@events.init.add_listener
def _read_payload(environment, **_):
    options = environment.parsed_options
    worker = _worker(environment)  # its other options come from the master with each run
    if worker and not options.mlchaos_payload:
        return  # a worker on another machine: the rows come from the master (`_take_rows`)
    if not options.mlchaos_payload or not (options.mlchaos_model or worker):
        raise SystemExit("--mlchaos-model and --mlchaos-payload are required")
    with open(options.mlchaos_payload) as rows:
        for line in rows:
            if line.strip():
                row = json.loads(line)
                BODIES.append(row["body"])
                LABELS.append(row.get("label"))
    if not BODIES:
        raise SystemExit(f"{options.mlchaos_payload}: no rows to replay")
    if options.mlchaos_share_payload and not _worker(environment):
        # sent to every worker with the run's options (custom options travel with a spawn)
        options.mlchaos_rows = json.dumps({"bodies": BODIES, "labels": LABELS})


@events.test_start.add_listener
def _take_rows(environment, **_):
    options = environment.parsed_options
    if _worker(environment):
        if not BODIES and getattr(options, "mlchaos_rows", None):
            rows = json.loads(options.mlchaos_rows)
            BODIES.extend(rows["bodies"])
            LABELS.extend(rows["labels"])
        if not BODIES:
            raise SystemExit(
                "no payload: start this worker with --mlchaos-payload, or its "
                "master with --mlchaos-share-payload"
            )
    elif options.mlchaos_ready_file:  # the master starts the run once its workers are in
        with open(options.mlchaos_ready_file, "w") as ready:
            ready.write(str(len(getattr(environment.runner, "clients", {}) or {})))


class ModelUser(FastHttpUser):
    _count = 0
    concurrency = 20
    """Requests one user may have in flight; beyond it, the schedule slips (and says so)."""

    def on_start(self):
        ModelUser._count += 1
        worker = getattr(self.environment.runner, "worker_index", 0) or 0
        self.number = worker * USERS_PER_WORKER + ModelUser._count
        self.cursor = (self.number * 997) % len(BODIES)
        self.sent = 0
        self.rng = random.Random(self.number)
        options = self.environment.parsed_options
        self.infer_path = options.mlchaos_infer_path.replace("{model}", options.mlchaos_model)
        self.labels_path = options.mlchaos_labels_path.replace("{model}", options.mlchaos_model)
        self.lag = options.mlchaos_label_lag
        self.labelled = options.mlchaos_labelled
        self.interval = 1.0 / options.mlchaos_user_rate
        # A seeded phase per user: started together, users would otherwise fire in bursts.
        self.due = time.monotonic() + self.rng.uniform(0, self.interval)

    def wait_time(self):
        self.due += self.interval
        now = time.monotonic()
        if now - self.due > MAX_BEHIND_S:
            self.due = now  # far behind (the service stalled): resume the rate, no burst
        return max(0.0, self.due - now)

    @task
    def infer(self):
        row = self.cursor
        self.cursor = (self.cursor + 1) % len(BODIES)
        self.sent += 1
        request_id = f"u{self.number}-{self.sent}"
        labelled = (
            bool(self.labels_path) and LABELS[row] is not None and self.rng.random() < self.labelled
        )
        gevent.spawn(self._infer, row, request_id, labelled)

    def _infer(self, row, request_id, labelled):
        # 5xx and 400 are the fault's doing, not the load generator's: they count as failures
        # in Locust's statistics, so the achieved load is honest about what was served.
        body = BODIES[row]
        if isinstance(body, dict) and "inputs" in body:  # OIP: the id labels are joined by
            body = {**body, "id": request_id}
        self.client.post(self.infer_path, json=body, name="infer")
        if labelled:
            gevent.spawn_later(self.lag, self._label, request_id, int(LABELS[row]))

    def _label(self, request_id, label):
        self.client.post(
            self.labels_path,
            json={"labels": [{"id": request_id, "label": label}]},
            name="labels",
        )
