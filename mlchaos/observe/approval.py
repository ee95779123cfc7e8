"""The team's approval gate, watched: once a ``poisoned_data`` fault is in, mlchaos runs the
team's retrain step (mlchaos's doing: where the clock starts) and reads, from MLflow, every
version registered since the poison and the gate's decision on each (its version tags, as the
service file's ``training.approval`` names them); from the registry's alias and from the
answers the gateway saw, whether any of them was served.

The decision's time is when mlchaos first saw the tag (MLflow keeps no time for a tag), read
every half second: a time to decision is late by at most that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.hooks import run_hook
from mlchaos.observe.adapters import traffic
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.schema.service import Training
from mlchaos.service import Service

__all__ = ["POLL_S", "Candidate", "Watch", "outcome", "retrains_ended", "watch"]

POLL_S = 0.5
_RUNNING: list[threading.Event] = []
"""The retrain steps this process started and that have not ended: a revert waits for them
(`retrains_ended`), so that no pipeline still reading the poison promotes after it."""


def retrains_ended(limit_s: float) -> bool:
    """Wait up to ``limit_s`` for every retrain step this process started to end; whether
    they all did. A revert on Ctrl-C or SIGTERM comes here while one may still run."""
    deadline = time.monotonic() + limit_s
    return all(e.wait(max(0.0, deadline - time.monotonic())) for e in list(_RUNNING))


@dataclass
class Candidate:
    """A version registered while the snapshot was poisoned, and what became of it."""

    version: str
    created_at: str
    run_id: str = ""
    decision: str | None = None
    """The gate's decision tag, as written."""
    outcome: str = "undecided"
    """``approved``, ``rejected``, ``other`` (a value the service file does not name) or
    ``undecided``."""
    reason: str = ""
    decided_at: str | None = None
    """When mlchaos first saw the decision."""
    time_to_decision_s: float | None = None
    """From the retrain step's start to ``decided_at``."""
    alias_named_at: str | None = None
    """When the registry's alias was first seen naming it: it was put in service."""
    served_answers: int = 0
    """Answers the gateway saw it give."""


@dataclass
class Watch:
    triggered_at: str
    retrain: dict[str, Any] = field(default_factory=dict)
    versions: list[Candidate] = field(default_factory=list)
    watched_until: str = ""
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def outcome(tags: dict[str, str], training: Training) -> tuple[str | None, str]:
    """The gate's decision tag on a version, and what it means."""
    names = training.approval
    decision = tags.get(names.decision)
    if decision is None:
        return None, "undecided"
    if decision == names.approved:
        return decision, "approved"
    if decision == names.rejected:
        return decision, "rejected"
    return decision, "other"


def watch(
    service: Service, since_s: float, rejected_within_s: float, never_served_for_s: float,
    clock: Callable[[], float] = time.time,
) -> Watch:  # fmt: skip
    """Run the retrain step and watch until every version registered since ``since_s`` is
    decided and ``never_served_for_s`` has passed after the last decision (and the step's
    end), or until ``rejected_within_s`` after the start, whichever is first; never before
    the retrain step has ended (bounded by ``training.retrain_timeout``)."""
    assert service.training is not None and service.registry_url
    training = service.training
    registry = MlflowAliases(service.registry_url)
    started = clock()
    found = Watch(triggered_at=_iso(started))
    ended = threading.Event()

    def retrain() -> None:
        try:
            run_hook(training.retrain, "the retrain step", cwd=service.hook_dir,
                     timeout_s=training.retrain_timeout)  # fmt: skip
            found.retrain = {"ok": True}
        except MlchaosError as exc:
            found.retrain = {"ok": False, "error": str(exc)}
        finally:
            found.retrain["ended_at"] = _iso(clock())
            ended.set()
            _RUNNING.remove(ended)

    _RUNNING.append(ended)
    threading.Thread(target=retrain, name="mlchaos-retrain", daemon=True).start()
    by_version: dict[str, Candidate] = {}
    deadline = started + rejected_within_s
    settled_at: float | None = None
    while True:
        now = clock()
        try:
            _look(service, registry, training, since_s, started, now, by_version)
        except MlchaosError as exc:
            found.error = str(exc)
        done = ended.is_set()
        decided = bool(by_version) and all(c.decided_at for c in by_version.values())
        if done and decided and settled_at is None:
            settled_at = now
        if done and settled_at is not None and now >= settled_at + never_served_for_s:
            break
        if done and now >= deadline:
            break
        if done and (found.error or not found.retrain.get("ok")) and not by_version:
            break  # nothing was registered, and nothing will be
        ended.wait(POLL_S)
    found.versions = sorted(by_version.values(), key=lambda c: int(c.version))
    found.watched_until = _iso(clock())
    return found


def _look(
    service: Service, registry: MlflowAliases, training: Training, since_s: float,
    started: float, now: float, by_version: dict[str, Candidate],
) -> None:  # fmt: skip
    for row in registry.versions_since(service.model, int(since_s * 1000)):
        version = str(row["version"])
        candidate = by_version.setdefault(version, Candidate(
            version=version, created_at=_iso(int(row["creation_timestamp"]) / 1000),
            run_id=str(row.get("run_id", ""))))  # fmt: skip
        tags = {str(t["key"]): str(t.get("value", "")) for t in row.get("tags", [])}
        decision, meaning = outcome(tags, training)
        if decision is not None and candidate.decided_at is None:
            candidate.decision, candidate.outcome = decision, meaning
            candidate.decided_at = _iso(now)
            candidate.time_to_decision_s = round(now - started, 2)
        candidate.reason = tags.get(training.approval.reason, candidate.reason)[:500]
    if not by_version:
        return
    named = registry.named(service.model, service.versions.alias)
    if named in by_version and by_version[named].alias_named_at is None:
        by_version[named].alias_named_at = _iso(now)
    try:
        rows = traffic(service).versions(since_s)
    except MlchaosError:
        return  # the alias says what is served; the answers only add to it
    for candidate in by_version.values():
        candidate.served_answers = sum(n for _, v, n in rows if v == candidate.version)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
