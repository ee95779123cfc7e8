"""The model endpoint, as the service's clients reach it (through the gateway): the one
adapter mlchaos's own requests to the model go through.

It sends the payload's requests as the load does (`mlchaos.load.payload.labelled_requests`), says
which version answered (`mlchaos.protocols.answered_version`, the gateway's rule), reads the
model's metadata, and turns every HTTP failure into one `mlchaos.errors.TargetError` that
says why without a traceback.

    >>> model = ModelEndpoint.of(service)
    >>> model.infer(model.first_request()).version
    '3'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from mlchaos.access import why
from mlchaos.errors import TargetError
from mlchaos.load.payload import first_request, labelled_requests
from mlchaos.protocols import VERSION_HEADER, answered_version
from mlchaos.schema.service import Payload
from mlchaos.service import Service

__all__ = ["Answer", "ModelEndpoint"]


@dataclass(frozen=True)
class Answer:
    status: int
    version: str | None
    """The version that answered, when the answer says (header or OIP ``model_version``)."""
    text: str
    """The body, its whitespace folded, cut to 200 characters: for messages."""
    body: str = ""
    """The whole body, as it came."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class ModelEndpoint:
    service: Service

    @classmethod
    def of(cls, service: Service) -> ModelEndpoint:
        return cls(service)

    @property
    def url(self) -> str:
        """Where inferences go: the gateway, and the payload's inference path."""
        spec = self.service.payload
        path = spec.inference_path(self.service.model) if spec else ""
        return self.service.model_url.rstrip("/") + path

    def first_request(self) -> Any:
        """The payload's first request, exactly as the load sends it."""
        spec, path = self._payload()
        dataset, bodies = (path, None) if spec.file else (None, path)
        return first_request(spec.codec(), dataset, bodies)

    def payload_requests(self) -> list[Any]:
        """Every request of the payload, in the order the load sends them."""
        spec, path = self._payload()
        found = labelled_requests(spec.codec(), path if spec.file else None,
                                  path if spec.bodies else None, spec.label)  # fmt: skip
        return [body for body, _ in found]

    def _payload(self) -> tuple[Payload, Path]:
        spec, path = self.service.payload, self.service.payload_file
        if spec is None or path is None:
            raise TargetError("the service file names no payload: there is no request to send")
        return spec, path

    def infer(
        self, body: Any, timeout_s: float = 10.0, session: requests.Session | None = None
    ) -> Answer:
        """One inference; `TargetError` when nothing answered at all."""
        try:
            answer = (session or requests).post(self.url, json=body, timeout=timeout_s)
        except requests.RequestException as exc:
            raise TargetError(f"the model at {self.url}: {why(exc)}") from exc
        version = answered_version(answer.headers.get(VERSION_HEADER), answer.content)
        return Answer(answer.status_code, version, " ".join(answer.text.split())[:200],
                      answer.text)  # fmt: skip

    def metadata(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """The model's metadata (Open Inference Protocol ``GET /v2/models/NAME``)."""
        url = f"{self.service.model_url.rstrip('/')}/v2/models/{self.service.model}"
        try:
            answer = requests.get(url, timeout=timeout_s)
            answer.raise_for_status()
            found = answer.json()
        except requests.RequestException as exc:
            raise TargetError(f"the model's metadata at {url}: {why(exc)}") from exc
        except ValueError as exc:
            raise TargetError(f"the model's metadata at {url} is not JSON") from exc
        if not isinstance(found, dict):
            raise TargetError(f"the model's metadata at {url} is not a JSON object")
        return found
