"""The first signal stops the run; no later one can cut the revert or the reports short."""

from __future__ import annotations

import os
import signal

import pytest

from mlchaos.engine.interrupts import Interrupts


def send(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)  # delivered to this, the main thread, before kill returns


def test_the_first_signal_raises_and_later_ones_are_only_noted() -> None:
    interrupts = Interrupts()
    with interrupts.installed_while():
        with pytest.raises(KeyboardInterrupt):
            send(signal.SIGTERM)
        send(signal.SIGINT)  # a second signal 0.1 s later: noted, no exception
        send(signal.SIGTERM)
    assert [name for name, _ in interrupts.received] == ["SIGTERM", "SIGINT", "SIGTERM"]
    first = interrupts.first
    assert first is not None and interrupts.since(first[1]) == first


def test_a_first_signal_during_cleanup_is_raised_after_it() -> None:
    interrupts = Interrupts()
    done = []
    with interrupts.installed_while(), pytest.raises(KeyboardInterrupt), interrupts.deferred():
        send(signal.SIGINT)
        done.append("reverted")  # the cleanup went on
        done.append("reported")
    assert done == ["reverted", "reported"]


def test_handlers_are_put_back_after_a_library_call() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    interrupts = Interrupts()
    with interrupts.installed_while():
        assert signal.getsignal(signal.SIGINT) == interrupts._handle
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert not interrupts.installed
