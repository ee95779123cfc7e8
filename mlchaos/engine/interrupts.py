"""Ctrl-C and SIGTERM: the first one stops the game day, later ones cannot stop the cleanup.

The first SIGINT or SIGTERM raises `KeyboardInterrupt` where the main thread is, so the wait in
progress ends and chaoslib plays the rollbacks. Every later signal is noted and ignored: the
revert and the reports that follow are bounded in time, and a second Ctrl-C 0.1 s after the
first must not leave a fault in staging or lose the reports (`kill -9` still can; then run
`mlchaos recover`).

    >>> interrupts = Interrupts().install()
    >>> ...
    >>> interrupts.first  # ("SIGINT", datetime) or None

Only the signal itself means "interrupted": a fault that could not be injected, or that was
never active, ends the method too, and is judged for what it is.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import FrameType

__all__ = ["INTERRUPTS", "Interrupts", "chaoslib_keeps_our_handlers"]

progress = logging.getLogger("mlchaos.progress")


class Interrupts:
    """Records the signals a run received; installs itself for SIGINT and SIGTERM."""

    def __init__(self) -> None:
        self.received: list[tuple[str, datetime]] = []
        self.installed = False
        self._deferring = 0
        self._pending = False

    def install(self) -> Interrupts:
        """For the rest of the process (the CLI). Must be called from the main thread, as
        Python requires of signal handlers."""
        self.received = []
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        self.installed = True
        return self

    @contextlib.contextmanager
    def installed_while(self) -> Iterator[Interrupts]:
        """Installed for the block only, unless already installed (a library caller, such as
        the pytest plugin, keeps its own handlers afterwards). Off the main thread, nothing
        can be installed, and chaoslib's own handling applies."""
        if self.installed or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        self.install()
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            self.installed = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Cleanup that a first signal must not cut short: the signal is raised after it."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self._pending and not self._deferring:
            self._pending = False
            raise KeyboardInterrupt

    @property
    def first(self) -> tuple[str, datetime] | None:
        return self.received[0] if self.received else None

    def since(self, when: datetime) -> tuple[str, datetime] | None:
        """The first signal received at or after ``when``."""
        return next(((n, t) for n, t in self.received if t >= when), None)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append((name, datetime.now(UTC)))
        if len(self.received) == 1:
            progress.warning("%s: stopping; reverting the fault and writing the reports", name)
            if self._deferring:
                self._pending = True
                return
            raise KeyboardInterrupt
        progress.warning(
            "%s: already stopping; the revert and the reports take a few seconds "
            "(kill -9 abandons them; then run `mlchaos recover`)",
            name,
        )


INTERRUPTS = Interrupts()
"""The process's own; `mlchaos run` and `gameday` install it, tests pass fresh ones."""


@contextlib.contextmanager
def chaoslib_keeps_our_handlers(ours: bool = True) -> Iterator[None]:
    """chaoslib installs a SIGTERM handler for the length of a run that raises on *every*
    SIGTERM, rollbacks included; while this is active it leaves ``ours`` be, if there are."""
    import chaoslib.run

    if not ours:
        yield
        return
    original = chaoslib.run.exit_signals
    chaoslib.run.exit_signals = contextlib.nullcontext
    try:
        yield
    finally:
        chaoslib.run.exit_signals = original
