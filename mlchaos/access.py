"""How mlchaos reaches an authenticated endpoint: credentials read from the environment at the
moment of use, a CA bundle, a client certificate.

An `Access` holds only the *names* of environment variables and the paths of files, so it can
travel in a compiled experiment and a journal; the secrets stay in the process environment and
in memory. Every message names the variable, never its value.

    >>> Access(username="mlchaos", password_env="PROM_PASSWORD").describe()
    'basic auth as mlchaos ($PROM_PASSWORD)'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict

from mlchaos.errors import AccessRefused, InputError

__all__ = ["Access", "BearerAuth", "refused", "why"]


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer TOKEN``; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


class Access(BaseModel):
    """The way in to one endpoint. Empty: no credentials, the system's CAs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str | None = None
    password_env: str | None = None
    bearer_token_env: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def empty(self) -> bool:
        return self == Access()

    def verify(self) -> str | bool:
        return self.ca_file or True

    def cert(self) -> str | tuple[str, str] | None:
        if self.cert_file and self.key_file:
            return (self.cert_file, self.key_file)
        return self.cert_file

    def auth(self) -> requests.auth.AuthBase | None:
        """The credentials, read from the environment now. `InputError` naming the variable
        when it is unset or empty."""
        if self.password_env:
            return requests.auth.HTTPBasicAuth(self.username or "", _secret(self.password_env))
        if self.bearer_token_env:
            return BearerAuth(_secret(self.bearer_token_env))
        return None

    def session(self) -> requests.Session:
        """A session that sends the credentials and trusts the CA; files are checked first, so
        a missing one is named rather than failing deep in TLS."""
        for name in (self.ca_file, self.cert_file, self.key_file):
            if name and not Path(name).is_file():
                raise InputError(f"{name}: no such file (a CA bundle or client certificate)")
        session = _Session()
        session.auth = self.auth()
        session.verify = self.verify()
        session.cert = self.cert()
        return session

    def describe(self) -> str:
        """How mlchaos authenticates, for messages: names, never secrets."""
        if self.password_env:
            return f"basic auth as {self.username} (${self.password_env})"
        if self.bearer_token_env:
            return f"a bearer token (${self.bearer_token_env})"
        return "no credentials"


def refused(name: str, url: str, response: requests.Response, access: Access) -> None:
    """Raise `AccessRefused` with one clear line when ``response`` is 401 or 403."""
    if response.status_code in (401, 403):
        said = "refused mlchaos's credentials" if not access.empty else "requires credentials"
        raise AccessRefused(
            f"{name} at {url} {said} (HTTP {response.status_code}); mlchaos used "
            f"{access.describe()}: check the endpoint's basic_auth or bearer_token_env"
        )


def why(exc: BaseException) -> str:
    """What went wrong in one short phrase, without urllib3's nested retry text."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "its TLS certificate is not trusted (set ca_file to the CA that signed it)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "it did not answer in time"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "it is unreachable (connection refused or reset)"
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"it answered HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"


class _Session(requests.Session):
    """A session whose own CA and client certificate win: requests lets
    ``$REQUESTS_CA_BUNDLE`` override a session's ``verify`` unless each call names it."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        if kwargs.get("cert") is None:
            kwargs["cert"] = self.cert
        return super().request(method, url, *args, **kwargs)


def _secret(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise InputError(f"${variable} is not set: the service file reads a secret from it")
    return value
