"""Run with the example team's Python (tritonclient[http] 2.73.0): ask one OIP v2 server
what a Triton client asks, and print what came back as JSON, for the gateway's
transparency test to compare with the same questions asked directly.

Usage: python triton_probe.py HOST:PORT MODEL
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model = sys.argv[1], sys.argv[2]
client = httpclient.InferenceServerClient(url=url)
rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float64)
found: dict[str, object] = {
    "live": client.is_server_live(),
    "server": client.get_server_metadata()["name"],
    "model": client.get_model_metadata(model)["name"],
}
for binary in (False, True):
    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    wanted = httpclient.InferRequestedOutput("predict", binary_data=binary)
    try:
        answer = client.infer(model, [tensor], outputs=[wanted])
        found[f"binary={binary}"] = {"predict": answer.as_numpy("predict").ravel().tolist()}
    except InferenceServerException as exc:
        found[f"binary={binary}"] = {"status": exc.status(), "message": exc.message()}
print(json.dumps(found))
