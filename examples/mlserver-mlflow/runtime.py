"""The fraud team's MLServer runtime: MLServer's own scikit-learn runtime, plus the metrics the
team alerts on, logged through MLServer's custom-metrics API (``mlserver.log``), so that they
carry MLServer's ``model_name`` and ``model_version`` labels:

- ``fraud_flagged``: 1 for each transaction the model flags as fraud, else 0;
- ``fraud_amount`` and ``fraud_channel``: the inputs the team watches for drift;
- ``fraud_missing_values``: how many of a transaction's features were missing (null or NaN).
"""

from __future__ import annotations

import mlserver
import numpy as np
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_sklearn import SKLearnModel

AMOUNT, CHANNEL = 0, 5


class FraudModel(SKLearnModel):
    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        response = await super().predict(payload)
        rows = self.decode(payload.inputs[0], default_codec=NumpyCodec)
        flagged = NumpyCodec.decode_output(response.outputs[0]).reshape(-1)
        for row, flag in zip(rows, flagged, strict=True):
            mlserver.log(
                fraud_flagged=float(flag),
                fraud_amount=float(row[AMOUNT]),
                fraud_channel=float(row[CHANNEL]),
                fraud_missing_values=float(np.isnan(np.asarray(row, dtype=float)).sum()),
            )
        return response
