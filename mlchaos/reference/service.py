"""The reference stack described like any other service: by a service file.

`mlchaos up` writes it to ``STATE_DIR/service.yaml``, with the demo's facts as data (the
applicant segments, the bad versions the registry holds, the replayed traffic), so the engine,
the faults and the load treat the reference stack exactly as they treat a team's staging.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mlchaos.reference.config import ROLLOUT_NAMESPACE, StackConfig
from mlchaos.reference.features import FEATURES
from mlchaos.reference.versions import (
    BAD_VARIANTS,
    FALLBACK_VERSION,
    bad_version_name,
    segment_version_name,
)
from mlchaos.schema.service import ServiceFile
from mlchaos.service import Service

__all__ = ["AGE_BANDS", "document", "service", "write"]

AGE_BANDS = {"young": (21.0, 29.0), "adult": (30.0, 75.0)}
"""Ages of each applicant segment, as the reference data draws them."""


def document(cfg: StackConfig) -> ServiceFile:
    """The reference stack's service file; relative paths are relative to its state dir."""
    model = cfg.model_name
    return ServiceFile.model_validate(
        {
            "name": "mlchaos-reference",
            "model": model,
            "endpoints": {
                name: cfg.url(component)
                for name, component in (
                    ("gateway", "gateway"),
                    ("prometheus", "prometheus"),
                    ("alertmanager", "alertmanager"),
                    ("registry", "registry"),
                )
            },
            "pagerduty": {
                "url": cfg.url("pagerduty"),
                "service": cfg.pagerduty_service,
                "routing_key_file": cfg.routing_key_path.name,
                "ca_file": "tls/cert.pem",
            },
            "traffic_query": f'sum(rate(mlchaos_gateway_requests_total{{model="{model}"}}[5s]))',
            "production_version": cfg.production_version,
            "payload": {
                "file": cfg.traffic_path.name,
                "protocol": "oip-v2-columns",
                "features": list(FEATURES),
                "labels_path": "/v2/models/{model}/labels",
            },
            "rollout": {  # the canary controller, in the manner of Argo Rollouts
                "start": {"http": {"url": f"{cfg.url('canary-controller')}/rollouts"}},
                "abort": {"http": {"url": f"{cfg.url('canary-controller')}/abort"}},
                "reported_by": {"argo_rollouts": {"namespace": ROLLOUT_NAMESPACE, "name": model}},
            },
            "segments": {"feature": "age", "bands": AGE_BANDS, "score": _calibration(model)},
            "versions": {
                "bad": {v: bad_version_name(v) for v in BAD_VARIANTS},
                "segment": {"young": segment_version_name("young")},
                "fallback": [FALLBACK_VERSION],
            },
        }
    )


def _calibration(model: str) -> str:
    """Each segment's mean score against its positive share in training: a good model scores
    every segment near its own base rate, so the gap between segments stays small."""
    scores = f'mlchaos_model_segment_score{{model="{model}"}}'
    return (
        f"sum by (segment) (rate({scores.replace('{', '_sum{', 1)}[5s]))"
        f" / sum by (segment) (rate({scores.replace('{', '_count{', 1)}[5s]))"
        f" - on (segment) max by (segment) "
        f'(mlchaos_model_reference_segment_positive_share{{model="{model}"}})'
    )


def service(cfg: StackConfig) -> Service:
    return Service.from_file(document(cfg), cfg.state_dir)


def write(cfg: StackConfig) -> Path:
    """Write ``service.yaml`` into the state dir: what `--service` would take for this stack."""
    path = cfg.state_dir / "service.yaml"
    header = "# The reference stack, as a service file: `mlchaos gameday --service` takes it.\n"
    body = json.loads(document(cfg).model_dump_json(exclude_defaults=True))
    path.write_text(header + yaml.safe_dump(body, sort_keys=False))
    return path
