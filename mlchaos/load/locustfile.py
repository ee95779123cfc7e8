"""Replays the reference data to the model as Open Inference Protocol v2 requests.

Stands on its own:

    locust -f mlchaos/load/locustfile.py --host http://127.0.0.1:18080 --headless -u 10 \
        --mlchaos-user-rate 10

Each user walks the replay table from its own deterministic offset, at a constant throughput.
"""

from locust import FastHttpUser, constant_throughput, events, task

from mlchaos.stack.dataset import FEATURES, REPLAY_SEED, generate

ROWS = generate(2000, seed=REPLAY_SEED).features


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--mlchaos-model", default="credit-risk", help="model name to call")
    parser.add_argument(
        "--mlchaos-user-rate", type=float, default=10.0, help="requests per second per user"
    )


def _body(row):
    return {
        "inputs": [
            {"name": name, "datatype": "FP64", "shape": [1], "data": [float(value)]}
            for name, value in zip(FEATURES, row, strict=False)
        ]
    }


BODIES = [_body(row) for row in ROWS]


class ModelUser(FastHttpUser):
    _count = 0

    def on_start(self):
        ModelUser._count += 1
        self.cursor = (ModelUser._count * 997) % len(BODIES)
        options = self.environment.parsed_options
        self.path = f"/v2/models/{options.mlchaos_model}/infer"
        self._pace = constant_throughput(options.mlchaos_user_rate)

    def wait_time(self):
        return self._pace(self)

    @task
    def infer(self):
        body = BODIES[self.cursor]
        self.cursor = (self.cursor + 1) % len(BODIES)
        # 5xx and 400 are the fault's doing, not the load generator's: count them as failures
        # in Locust's stats so the achieved load is honest about what was served.
        self.client.post(self.path, json=body, name="infer")
