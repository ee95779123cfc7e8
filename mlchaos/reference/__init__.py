"""The reference stack: a credit-risk model served, watched, paged and rolled back on
loopback, so a game day runs on a fresh machine. An add-on, installed with
``pip install 'mlchaos[reference]'``; the core never imports it.

The stack describes itself to the core the way a team's staging does: with a service file
(`mlchaos.reference.service`), written to ``STATE_DIR/service.yaml`` by `mlchaos up`.
"""

from __future__ import annotations

import importlib.util

from mlchaos.errors import StackError

__all__ = ["EXTRA_MODULES", "require"]

EXTRA_MODULES = ("sklearn", "numpy")
"""What the ``reference`` extra installs, by import name."""


def require() -> None:
    """`StackError` naming the install command when the extra is missing."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise StackError(
            f"the reference stack needs {', '.join(missing)}: pip install 'mlchaos[reference]'"
        )
