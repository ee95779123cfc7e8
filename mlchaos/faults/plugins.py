"""Third-party faults, through the ``mlchaos.faults`` entry-point group.

A package declares its fault in its metadata:

```toml
[project.entry-points."mlchaos.faults"]
flag_flip = "my_package.faults:FlagFlip"
```

and experiments use it by name, with arguments bound to ``inject``'s keyword-only parameters:

```yaml
fault:
  type: plugin
  plugin: flag_flip
  arguments: {flag: new-ranker, value: true}
  ttl: 5m
```

The object (a class is instantiated without arguments) provides, like the built-in kinds:

```python
class FlagFlip:
    TARGET = "plugin:flag_flip"   # leases it records carry this target

    def inject(self, journal, service, ttl_s, *, flag, value):
        intent = leases.record_intent(journal, self.TARGET, undo=f"reset {flag}", flag=flag)
        lease_id, at = ...                      # act; the target must enforce ttl_s itself
        leases.record_granted(journal, intent, lease_id, expires_at)
        leases.record_injected(journal, at, "flag store audit", {"flag": flag})
        return lease_id

    def confirm(self, journal, service) -> str | None: ...   # the effect seen, or None yet
    def end_lease(self, journal, intent, lease_id) -> dict: ...  # {"at", "action", "actor"}
```

``confirm`` must show the fault's *effect*, not its lease: it returns what it saw that shows
the fault is live ("the ranker serves the new model to 34% of requests"), or None while it has
seen nothing yet. mlchaos asks it again for `CONFIRM_S` and records the answer as the run's
liveness evidence; a plugin that only says True (a lease exists) never makes a fault count as
live, so an experiment on it cannot pass.

``mlchaos validate`` loads the plugin and binds the arguments, so a misspelt or missing
argument is reported with its line before anything runs.
"""

from __future__ import annotations

import difflib
import inspect
from importlib.metadata import entry_points
from typing import Any

from mlchaos.errors import InputError
from mlchaos.faults import BUILTIN, GROUP
from mlchaos.faults.confirm import poll
from mlchaos.journal import Journal
from mlchaos.service import Service

__all__ = [
    "CONFIRM_S",
    "FAULT",
    "PluginKind",
    "Plugins",
    "available",
    "check_arguments",
    "load",
]

CONFIRM_S = 10.0
"""How long a plugin's fault has to show its effect."""


def _third_party() -> list[Any]:
    return [ep for ep in entry_points(group=GROUP) if not ep.value.startswith(BUILTIN)]


def available() -> list[str]:
    return sorted(ep.name for ep in _third_party())


def load(name: str) -> Any:
    """The fault object the entry point ``name`` names; `InputError` if there is none."""
    found = [ep for ep in _third_party() if ep.name == name]
    if not found:
        known = ", ".join(available()) or "none installed"
        raise InputError(f"no fault plugin {name!r} in entry points {GROUP} (found: {known})")
    try:
        loaded = found[0].load()
    except Exception as exc:  # a broken third-party package is the user's input problem
        raise InputError(f"fault plugin {name!r} failed to load: {exc}") from exc
    return loaded() if inspect.isclass(loaded) else loaded


def check_arguments(name: str, arguments: dict[str, Any]) -> str | None:
    """Why ``arguments`` do not fit the plugin's ``inject`` signature, or None if they do."""
    signature = inspect.signature(load(name).inject)
    accepted = [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
    takes = f"{name} takes: {', '.join(accepted) or 'no arguments'}"
    for argument in arguments:
        if argument not in accepted:
            close = difflib.get_close_matches(argument, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; {takes}"
            return f"unknown argument {argument!r}{hint}"
    try:
        signature.bind(None, None, 0.0, **arguments)
    except TypeError as exc:
        return f"{exc}; {takes}"
    return None


class PluginKind:
    """Adapts a plugin object to the shape of the built-in fault kinds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.plugin = load(name)
        self.TARGET = f"plugin:{name}"

    def inject(self, journal: Journal, service: Service, fault: Any) -> str:
        return str(self.plugin.inject(journal, service, fault.ttl, **fault.arguments))

    def confirm(self, journal: Journal, service: Service, fault: Any) -> bool:
        said: list[object] = []

        def effect() -> str | None:
            said.append(self.plugin.confirm(journal, service))
            return said[-1] if isinstance(said[-1], str) and said[-1] else None

        def missing() -> str:
            if said and said[-1] is True:
                return (
                    f"plugin {self.name}'s confirm said True without naming an effect: it "
                    "must return what it saw of the fault's effect (a str), not that a lease "
                    "exists"
                )
            return f"plugin {self.name} saw no effect of the fault in {CONFIRM_S:g}s"

        return poll(journal, effect, CONFIRM_S, missing, interval_s=0.2)

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return dict(self.plugin.end_lease(journal, intent, lease_id))


class Plugins:
    """The ``plugin`` fault type: each fault names its plugin."""

    def inject(self, journal: Journal, service: Service, fault: Any) -> str:
        return PluginKind(fault.plugin).inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: Any) -> bool:
        return PluginKind(fault.plugin).confirm(journal, service, fault)

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return PluginKind(intent["target"].removeprefix("plugin:")).end_lease(
            journal, intent, lease_id
        )

    def misfits(self, service: Service, fault: Any) -> list[tuple[str, str]]:
        return []  # a plugin's arguments are bound to its signature when the file is validated


FAULT = Plugins()
