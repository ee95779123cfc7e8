"""What the clients of mlchaos's own HTTP APIs share: one call, and errors mapped once."""

from __future__ import annotations

from typing import Any

import requests

from mlchaos.errors import ObservationError, TargetError

__all__ = ["JsonApi"]


def _error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.reason))
    except ValueError:
        return str(response.reason)


class JsonApi:
    """A JSON API at ``url``. Refusals (``refused`` codes) raise `TargetError` with the
    server's message; an unreachable server or a server error raises `ObservationError`."""

    name = "service"
    refused: tuple[int, ...] = (400, 404, 409)

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers: dict[str, str] = {}

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = requests.request(
                method, self.url + path, timeout=self.timeout_s, headers=self.headers, **kwargs
            )
        except requests.RequestException as exc:
            raise ObservationError(f"{self.name} at {self.url} is unreachable: {exc}") from exc
        if response.status_code == 401:
            raise ObservationError(f"{self.name} at {self.url} refused: {_error(response)}")
        if response.status_code in self.refused:
            raise TargetError(response.json().get("error", response.text))
        if response.status_code >= 400:
            raise ObservationError(f"{self.name} at {self.url} answered {response.status_code}")
        return dict(response.json())
