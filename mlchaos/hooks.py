"""Run a team's hook (a deploy step, a rollback): an HTTP call or a command, with a bound on
its time, and an error that says what failed without echoing what it was given.

A hook's output is never copied into messages whole: a command's arguments and output may
hold credentials, so a failure names the program, its exit status and the last line it
printed to stderr, cut short.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from mlchaos.errors import TargetError
from mlchaos.schema.service import Hook

__all__ = ["LAST_LINE_MAX", "HookFailed", "run_hook"]

LAST_LINE_MAX = 300


class HookFailed(TargetError):
    """The hook ran and failed, or could not run."""


def _shown(url: str) -> str:
    """The URL without credentials or query string, which may carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def run_hook(
    hook: Hook, what: str, cwd: Path | None = None, body: Any = None, timeout_s: float = 120.0
) -> None:
    """Run ``hook`` to completion; `HookFailed` naming ``what`` when it did not succeed."""
    if hook.http is not None:
        where = _shown(hook.http.url)
        try:
            answer = requests.request(hook.http.method, hook.http.url, json=body, timeout=timeout_s)
        except requests.RequestException as exc:
            raise HookFailed(f"{what}: {where} is unreachable: {type(exc).__name__}") from None
        if answer.status_code >= 300:
            raise HookFailed(f"{what}: {where} answered {answer.status_code}")
        return
    assert hook.command is not None
    program = Path(hook.command[0]).name
    try:
        done = subprocess.run(
            list(hook.command), cwd=cwd, timeout=timeout_s, capture_output=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise HookFailed(f"{what}: {program} did not finish in {timeout_s:g}s") from None
    except OSError as exc:
        raise HookFailed(f"{what}: {program} could not run: {exc.strerror}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        last = lines[-1][:LAST_LINE_MAX] if lines else "no output on stderr"
        raise HookFailed(f"{what}: {program} exited {done.returncode}: {last}")
