"""Broken builds of the team's own model: a copy of the champion's pickled model, wrapped so
that it is slow, crashes, or answers a constant, for registries where only a version the team
registered can be promoted (MLflow).

The wrapper holds the champion's pickle as bytes and unpickles it only where the team's server
loads it, so mlchaos never imports the team's libraries (scikit-learn, XGBoost). Its class is
pickled by value with cloudpickle (which MLflow brings into the server's environment), so the
server needs nothing of mlchaos either. Like every pickle, it loads on the Python minor version
that wrote it: mlchaos's Python must match the server's.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Literal

__all__ = ["BUILT", "Buildable", "build"]

Buildable = Literal["slow", "crashing", "constant"]
BUILT: tuple[str, ...] = ("slow", "constant")
"""The variants a fault builds: ``crashing`` is built too (`build`), but a server's error answers
do not say which version gave them, so no fault could show it live."""


class _BrokenBuild:
    """The champion, broken as ``variant`` says; everything else it has is passed through
    (``predict_proba``, ``classes_``). Pickled by value: this class travels with the model."""

    def __init__(self, inner: bytes, variant: str, delay_s: float) -> None:
        self.inner, self.variant, self.delay_s = inner, variant, delay_s
        self._model: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"inner": self.inner, "variant": self.variant, "delay_s": self.delay_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._model = None

    def _champion(self) -> Any:
        if self._model is None:
            import pickle as loader

            self._model = loader.loads(self.inner)
        return self._model

    def _broken(self, method: str, features: Any) -> Any:
        import time

        if self.variant == "crashing":
            raise RuntimeError("mlchaos broken build: this copy of the champion crashes")
        if self.variant == "slow":
            time.sleep(self.delay_s)
        answer = getattr(self._champion(), method)(features)
        if self.variant == "constant":
            return answer * 0  # the same shape and type, one answer for everyone
        return answer

    def predict(self, features: Any) -> Any:
        return self._broken("predict", features)

    def predict_proba(self, features: Any) -> Any:
        return self._broken("predict_proba", features)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("inner", "variant", "delay_s", "_model"):
            raise AttributeError(name)
        return getattr(self._champion(), name)


def build(champion: bytes, variant: Buildable, delay_s: float = 0.3) -> bytes:
    """The pickle of ``champion`` (a pickled model's bytes) broken as ``variant``."""
    import cloudpickle  # type: ignore[import-untyped]

    cloudpickle.register_pickle_by_value(__import__(__name__, fromlist=["_"]))
    try:
        out = io.BytesIO()
        cloudpickle.dump(_BrokenBuild(champion, variant, delay_s), out,
                         protocol=pickle.DEFAULT_PROTOCOL)  # fmt: skip
        return out.getvalue()
    finally:
        cloudpickle.unregister_pickle_by_value(__import__(__name__, fromlist=["_"]))
