"""What the gateway served, per second: the gateway's own view of whether the service serves,
and of which model version answers."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Outcomes"]


class Outcomes:
    """How many inference requests the gateway answered each second, how many with a 2xx, with
    which status codes and by which model version, for the last `KEEP_S` seconds: the
    gateway's own view of whether the service is serving, whatever the service's metrics count
    as an error, and of what is served."""

    KEEP_S = 900

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._seconds: collections.deque[list[int]] = collections.deque()
        self._versions: dict[int, dict[str, list[float]]] = {}
        """second -> version -> [answers, time of the first answer, time of the last]."""
        self._codes: dict[int, collections.Counter[int]] = {}
        self._latest: tuple[float, str] | None = None
        """When the latest answer naming a version came, and which."""

    def count(self, status: int, version: str | None = None) -> None:
        now = self.clock()
        second = int(now)
        if not self._seconds or self._seconds[-1][0] != second:  # once a second
            self._seconds.append([second, 0, 0])
            self._codes.setdefault(second, collections.Counter())
            self._versions.setdefault(second, {})
            while self._seconds[0][0] < second - self.KEEP_S:
                gone = self._seconds.popleft()[0]
                self._versions.pop(gone, None)
                self._codes.pop(gone, None)
        bucket = self._seconds[-1]
        bucket[1] += 1
        bucket[2] += 200 <= status < 300
        self._codes[second][status] += 1
        if version is not None:
            versions = self._versions[second]
            seen = versions.get(version)
            if seen is None:
                seen = versions[version] = [0, now, now]
            seen[0] += 1
            seen[2] = now
            self._latest = (now, version)

    def since(self, second: float) -> list[list[int]]:
        """``[second, answered, ok]`` for each second from ``second`` that saw a request."""
        return [list(b) for b in self._seconds if b[0] >= second]

    def versions_since(self, second: float) -> list[list[Any]]:
        """``[second, version, answers, first, last]``: which model version answered, as the
        answers said, and when (epoch seconds) the first and the last of them that second were
        answered: the moment what is served changed, to the answer."""
        return [
            [s, version, int(n), first, last]
            for s, counts in sorted(self._versions.items())
            if s >= second
            for version, (n, first, last) in sorted(counts.items())
        ]

    def serving(self, window_s: float = 10.0, also: list[Any] | None = None) -> list[str]:
        """The version serving now: the one that gave the latest answer naming a version,
        within the last ``window_s`` seconds. Only the latest: a fallback that answered a
        moment ago and was switched off since is not serving. (A fault meant for several
        versions at once, a canary's, names them in its ``versions``.) ``also``: the other
        workers' `latest`."""
        found = [x for x in [self._latest, *(also or [])] if x]
        if not found:
            return []
        when, version = max(found, key=lambda pair: float(pair[0]))
        return [] if float(when) < self.clock() - window_s else [str(version)]

    def latest(self) -> tuple[float, str] | None:
        """When the latest answer naming a version came, and which."""
        return self._latest

    def document(self, since: float) -> dict[str, Any]:
        """What was served from ``since``, as ``/admin/outcomes`` gives it."""
        return {
            "outcomes": self.since(since),
            "versions": self.versions_since(since),
            "codes": self.codes_since(since),
            "latest": self._latest,
        }

    def codes_since(self, second: float) -> list[list[int]]:
        """``[second, status, answers]``: the status codes the gateway answered with."""
        return [
            [s, code, n]
            for s, counts in sorted(self._codes.items())
            if s >= second
            for code, n in sorted(counts.items())
        ]
