"""Files a fault changes in place (a secret file, a training snapshot): their own bytes wait
beside them, with their mode, until the lease ends; every write is a rename, so a reader sees
the old file or the new one, never half of each."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["held_copy", "write_atomically"]


def held_copy(path: Path, lease_id: str) -> Path:
    """Where ``path``'s old content waits for the end of lease ``lease_id``: beside it (the
    same filesystem, so putting it back is one rename), hidden."""
    return path.with_name(f".{path.name}.mlchaos-held-{lease_id}")


def write_atomically(path: Path, content: bytes, mode: int) -> None:
    """Write ``content`` to ``path`` with ``mode``, through a staged file renamed over it."""
    staged = path.with_name(path.name + ".mlchaos-new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.chmod(staged, mode)
    os.replace(staged, path)
