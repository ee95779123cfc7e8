"""The fraud team's MLServer runtime: MLServer's own scikit-learn runtime, fed from the feature
store. A request carries a transaction's own fields and its customer's id (one [N, 5] tensor,
``fraud.REQUEST``); the runtime looks the customer up in Feast (Redis) and gives the model its
six features (``fraud.FEATURES``). It logs the metrics the team alerts on through MLServer's
custom-metrics API (``mlserver.log``), so that they carry MLServer's ``model_name`` and
``model_version`` labels:

- ``fraud_flagged``: 1 for each transaction the model flags as fraud, else 0;
- ``fraud_amount`` and ``fraud_channel``: the inputs the team watches for drift;
- ``fraud_missing_values``: how many of a transaction's features were missing (null or NaN);
- ``fraud_feature_lookup_seconds``: how long each feature-store lookup took;
- ``fraud_feature_lookup_failed``: 1 for a lookup that failed (the store did not answer in
  time, or refused), else 0;
- ``fraud_features_not_found``: how many of a transaction's stored features the store did not
  have (Feast's NOT_FOUND). The model scores them as 0: nothing fails, predictions go wrong;
- ``fraud_fallback``: 1 for a transaction scored on the fallback defaults (the customer's
  features at their population medians) because the lookup failed, else 0.

A request may carry the card and the customer's email as Open Inference Protocol request
``parameters`` (``card_number``, ``email``): the runtime never stores them. Its inference log
(``$FRAUD_INFERENCE_LOG``, JSON lines, what the team's analysts join on) keeps keyed
pseudonyms of them and of the customer (HMAC-SHA256 with the team's key,
``$FRAUD_PSEUDONYM_KEY_FILE``): a card number cannot be brute-forced back out of it. A debug
switch left on (a file ``log-raw-requests`` beside the log) adds the raw parameters: the
leak a PII canary must find.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import mlserver
import numpy as np
from feast import FeatureStore
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_sklearn import SKLearnModel

from fraud import FEATURES, REQUEST, VIEWS, customers

AMOUNT, CHANNEL = FEATURES.index("amount"), FEATURES.index("channel")
STORED = [(view, feature) for view, features in VIEWS.items() for feature in features]
REFERENCES = [f"{view}:{feature}" for view, feature in STORED]
KNOWN = customers()
FALLBACK = {feature: float(np.median(KNOWN[feature])) for _, feature in STORED}
"""What the model is given for a customer the store could not be asked about."""


class FraudModel(SKLearnModel):
    async def load(self) -> bool:
        # The feature store's password is the team's secret, a file (a mounted secret): read
        # at every load, which is how the team's propagation step (a reload) takes up a new one.
        secret = os.environ.get("FRAUD_REDIS_PASSWORD_FILE")
        if secret:
            os.environ["FRAUD_REDIS_PASSWORD"] = Path(secret).read_text().strip()
        self.store = FeatureStore(repo_path=os.environ.get(
            "FRAUD_FEATURE_REPO", str(Path(__file__).resolve().parent / "feature_repo")))
        log, key = os.environ.get("FRAUD_INFERENCE_LOG"), os.environ.get("FRAUD_PSEUDONYM_KEY_FILE")
        self.inference_log = Path(log) if log else None
        self.pseudonym_key = Path(key).read_bytes().strip() if key else b""
        return await super().load()

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        sent = self.decode(payload.inputs[0], default_codec=NumpyCodec)
        rows, missing, fallback = self.features(np.atleast_2d(np.asarray(sent, dtype=float)))
        payload.inputs[0] = NumpyCodec.encode_input(payload.inputs[0].name, rows)
        response = await super().predict(payload)
        flagged = NumpyCodec.decode_output(response.outputs[0]).reshape(-1)
        for row, flag, lost in zip(rows, flagged, missing, strict=True):
            mlserver.log(
                fraud_flagged=float(flag),
                fraud_amount=float(row[AMOUNT]),
                fraud_channel=float(row[CHANNEL]),
                fraud_missing_values=float(np.isnan(row).sum()),
                fraud_features_not_found=float(lost),
                fraud_fallback=float(fallback),
            )
        self.log_inference(payload, sent, flagged)
        return response

    def log_inference(self, payload: InferenceRequest, sent: np.ndarray, flagged: np.ndarray) -> None:
        """One line of the inference log: pseudonyms, never the card or the email."""
        if self.inference_log is None:
            return
        given = payload.parameters.model_dump(exclude_none=True) if payload.parameters else {}
        ids = np.atleast_2d(np.asarray(sent, dtype=float))[:, REQUEST.index("customer_id")]
        line = {
            "at": time.time(), "model_version": self.version,
            "customers": [self.pseudonym(str(int(i))) for i in np.nan_to_num(ids)],
            **{name: self.pseudonym(str(given[name])) for name in ("card_number", "email")
               if name in given},
            "flagged": [int(f) for f in flagged],
        }
        if (self.inference_log.parent / "log-raw-requests").exists():  # a debug switch left on
            line["request"] = given
        with self.inference_log.open("a") as log:
            log.write(json.dumps(line) + "\n")

    def pseudonym(self, value: str) -> str:
        return hmac.new(self.pseudonym_key, value.encode(), hashlib.sha256).hexdigest()[:24]

    def features(self, sent: np.ndarray) -> tuple[np.ndarray, list[int], bool]:
        """The model's rows for the request's, with how many stored features each lacked, and
        whether the lookup failed (every row then on the fallback defaults)."""
        if sent.shape[1] != len(REQUEST):
            raise ValueError(f"expected {len(REQUEST)} fields per transaction ({REQUEST}), "
                             f"got {sent.shape[1]}")
        given = {name: sent[:, i] for i, name in enumerate(REQUEST)}
        ids = given["customer_id"]
        started = time.perf_counter()
        try:
            found = self.store.get_online_features(
                features=REFERENCES,
                entity_rows=[{"customer_id": int(i)} for i in np.nan_to_num(ids, nan=0)],
            ).to_dict()
            failed = False
            refused = False
        except Exception as exc:  # the store did not answer in time, or refused us
            found, failed, refused = {}, True, _refused(exc)
        mlserver.log(fraud_feature_lookup_seconds=time.perf_counter() - started,
                     fraud_feature_lookup_failed=float(failed),
                     fraud_feature_lookup_refused=float(refused))
        lost = [0] * len(ids)
        for _, feature in STORED:
            if failed:
                given[feature] = np.full(len(ids), FALLBACK[feature])
                continue
            values = found[feature]
            lost = [n + (v is None) for n, v in zip(lost, values, strict=True)]
            given[feature] = np.array([0.0 if v is None else float(v) for v in values])
        return np.column_stack([given[f] for f in FEATURES]), lost, failed


def _refused(exc: BaseException | None) -> bool:
    """Whether the store refused our credentials (Redis: WRONGPASS), anywhere in the chain."""
    while exc is not None:
        if type(exc).__name__ == "AuthenticationError" or "WRONGPASS" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
