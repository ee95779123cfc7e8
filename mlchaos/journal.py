"""The run journal: one typed record per line, flushed and fsynced as each thing happens.

A crash loses nothing already written, and `mlchaos recover` reads leases back from it.
Every record is a model below, told apart by its ``type``:

    run_started       experiment, fault, targets
    floor             the detection and paging floor read from the live configs
    preflight_failed  why nothing was injected
    lease             the undo a fault will need, written *before* it acts
    lease_acquired    the target granted the lease
    lease_ended       the target ended it
    event             a timeline event: its time, the source that owns that time, and who
                      caused it (the actor, and its party: the team or mlchaos)
    missed            an event that did not happen, and why (timeout, unreachable, undefined)
    fault_active      whether the injected fault was observably live
    slo               one steady-state check: value, and holds / violated / no_data / unreachable
    activity          chaoslib activity start and end, recorded by the mlchaos control
    runbook_step      a runbook step the automated responder ran, and its outcome
    responded         something the simulated responder did for a page (an acknowledgement),
                      written before it acts
    run_finished      chaoslib's status, kept for the record, never judged
    interrupted       the SIGINT or SIGTERM that cut the run short, and when
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mlchaos.schema.results import StepRun
from mlchaos.vocabulary import Event, Party

__all__ = [
    "Activity",
    "ApprovalWatched",
    "EventRecord",
    "FaultActive",
    "FloorRecord",
    "Interrupted",
    "Journal",
    "Lease",
    "LeaseAcquired",
    "LeaseEnded",
    "Missed",
    "PreflightFailed",
    "PrivacySearched",
    "Record",
    "Responded",
    "RolloutWatched",
    "RunFinished",
    "RunStarted",
    "RunbookStep",
    "SloCheck",
    "Stopped",
    "journal_from",
    "parse_record",
    "parse_time",
]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    written_at: str = Field(default_factory=_now)


class RunStarted(_Record):
    type: Literal["run_started"] = "run_started"
    experiment: str
    fault: str
    targets: dict[str, float]


class FloorRecord(_Record):
    type: Literal["floor"] = "floor"
    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: float
    group_wait_s: float
    total_s: float
    source: str = "read"


class PreflightFailed(_Record):
    type: Literal["preflight_failed"] = "preflight_failed"
    reason: str


class Lease(_Record):
    """What will have to be undone. Besides these, each target keeps what it needs to undo
    it (its URL, the model and version, the Deployment...): extra fields, handed back to the
    target as the ``intent``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: Literal["lease"] = "lease"
    intent: int
    target: str
    undo: str

    def as_intent(self) -> dict[str, Any]:
        """The record as the dict targets and plugins receive."""
        return self.model_dump(mode="json")


class LeaseAcquired(_Record):
    type: Literal["lease_acquired"] = "lease_acquired"
    intent: int
    lease_id: str
    expires_at: str


class LeaseEnded(_Record):
    type: Literal["lease_ended"] = "lease_ended"
    intent: int
    lease_id: str | None = None
    action: str


class EventRecord(_Record):
    type: Literal["event"] = "event"
    event: Event
    time: str
    """When it happened, by the clock of the system that owns the event."""
    source: str
    detail: dict[str, Any] = Field(default_factory=dict)
    actor: str | None = None
    """Who caused it: ``prometheus``, ``rollback-controller``, a person, ``mlchaos-responder``.
    None in journals written before actors were recorded: then it is not judged."""
    party: Party | None = None
    """Whose doing it was: the team's or mlchaos's (a duration ending in it is simulated)."""
    earliest: str | None = None
    """The earliest moment it can have happened, when its owner gives times coarser than the
    truth (PagerDuty's REST API, to the second): a duration that starts here is measured from
    this, so that rounding never shortens it."""

    @property
    def start(self) -> str:
        """The time a duration starting at this event is measured from."""
        return self.earliest or self.time


class Missed(_Record):
    type: Literal["missed"] = "missed"
    event: Event
    status: Literal["timeout", "unreachable", "undefined", "stopped"]
    reason: str


class RolloutWatched(_Record):
    """A canary, as the answers showed it once mlchaos stopped watching (`mlchaos.observe.
    rollout`): what the team's rollout did with the candidate, and how far it got."""

    type: Literal["rollout"] = "rollout"
    version: str
    expected: Literal["aborted", "promoted"]
    outcome: Literal["aborted", "promoted", "unsettled"]
    at: str | None = None
    largest_share: float | None = None
    largest_at: str | None = None
    share_at_end: float | None = None
    answered_by_it: int = 0
    answered: int = 0
    source: str = "gateway answers (each answer's model version)"
    controller_said: dict[str, Any] | None = None
    """The rollout controller's own account when the watch ended (`mlchaos.observe.rollouts`):
    reported beside the answers, never judged."""


class PrivacySearched(_Record):
    """A ``pii_canary``'s search, once it ended (`mlchaos.observe.privacy`): each place the
    service file names, what was read there, what was found (the canary value and where,
    never the content around it), or why it could not be searched."""

    type: Literal["privacy"] = "privacy"
    marker: str
    started: str
    ended: str
    searches: int
    """How many times every place was searched (the last one counts; a find ends it)."""
    sinks: list[dict[str, Any]]
    """`mlchaos.observe.privacy.Searched.as_dict` of each, the canaries' answers first."""


class ApprovalWatched(_Record):
    """A ``poisoned_data`` fault's watch of the team's retrain and approval gate, once it
    ended (`mlchaos.observe.approval`): when mlchaos ran the retrain step and how it ended,
    each version registered since, the gate's decision and reason, and whether it was
    served."""

    type: Literal["approval"] = "approval"
    triggered_at: str
    """When mlchaos ran the team's retrain step: mlchaos's doing, where the clock starts."""
    retrain: dict[str, Any]
    """How the retrain step ended: ``{"ok": true, "ended_at": ...}`` or its error."""
    versions: list[dict[str, Any]]
    """Each version registered since the trigger (`mlchaos.observe.approval.Candidate`)."""
    watched_until: str
    error: str | None = None
    """Why the registry could not be read to the end: no pass rests on a watch cut short."""


class FaultActive(_Record):
    type: Literal["fault_active"] = "fault_active"
    active: bool
    evidence: str


class SloCheck(_Record):
    type: Literal["slo"] = "slo"
    role: str
    """``steady``, ``traffic``, ``serving`` or ``recovery``: why it was checked."""
    name: str
    status: Literal["holds", "violated", "no_data", "unreachable"]
    value: float | None = None
    condition: str | None = None
    reason: str | None = None
    query: str | None = None
    answered: int | None = None


class Activity(_Record):
    type: Literal["activity"] = "activity"
    name: str | None = None
    phase: Literal["start", "end"]
    status: str | None = None
    output: bool | dict[str, Any] | None = None
    exception: str | None = None


class RunbookStep(_Record, StepRun):
    """A runbook step the responder ran, as results.json reports it (`StepRun`)."""

    type: Literal["runbook_step"] = "runbook_step"


class Responded(_Record):
    """The simulated responder is about to act for a page: written before it acts, so that
    whatever the pager shows next is known to be mlchaos's doing, not the team's."""

    type: Literal["responded"] = "responded"
    action: Literal["acknowledge"]
    incident: str
    actor: str
    delay_s: float
    """The delay the scenario configured (``ack_delay``): what the duration really measures."""


class RunFinished(_Record):
    type: Literal["run_finished"] = "run_finished"
    chaoslib_status: str | None = None


class Interrupted(_Record):
    type: Literal["interrupted"] = "interrupted"
    signal: str
    at: str


class Stopped(_Record):
    """A stop condition breached while the fault was in, and mlchaos reverted at once."""

    type: Literal["stopped"] = "stopped"
    guard: str
    query: str
    condition: str
    value: float | None = None
    """The breaching value; None when the guard could not be read (it stops all the same)."""
    reason: str | None = None
    """Why a guard could not be read, for a fail-safe stop."""
    breached_at: str
    """When mlchaos saw the breach in Prometheus (or gave up reading the guard)."""
    reverted_at: str
    breach_to_revert_s: float


Record = Annotated[
    RunStarted
    | FloorRecord
    | PreflightFailed
    | Lease
    | LeaseAcquired
    | LeaseEnded
    | EventRecord
    | Missed
    | RolloutWatched
    | PrivacySearched
    | ApprovalWatched
    | FaultActive
    | SloCheck
    | Activity
    | RunbookStep
    | Responded
    | RunFinished
    | Interrupted
    | Stopped,
    Field(discriminator="type"),
]
_RECORD: TypeAdapter[Record] = TypeAdapter(Record)
R = TypeVar("R", bound=_Record)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, record: R) -> R:
        line = json.dumps(record.model_dump(mode="json", exclude_none=True))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as out:
                if out.tell() and not _ends_a_line(out):
                    line = "\n" + line  # a line torn by a crash stays alone, not glued to this
                out.write((line + "\n").encode())
                out.flush()
                os.fsync(out.fileno())
        return record

    def read(self) -> list[Record]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_bytes().decode(errors="replace").splitlines():
            try:
                records.append(_RECORD.validate_json(line))
            except ValidationError:
                continue  # a line torn by a crash mid-write
        return records

    def of(self, kind: type[R]) -> list[R]:
        """Every record of one kind, in the order written."""
        return [r for r in self.read() if isinstance(r, kind)]

    @property
    def stop_marker(self) -> Path:
        """Exists once a stop condition ended the fault: the waits in progress end too."""
        return self.path.with_suffix(".stopped")

    def event_time(self, event: str) -> datetime | None:
        """When ``event`` happened, per its owner; None if it has not been recorded."""
        return next((parse_time(r.time) for r in self.of(EventRecord) if r.event == event), None)


def _ends_a_line(out: BinaryIO) -> bool:
    out.seek(-1, os.SEEK_END)
    last = out.read(1)
    out.seek(0, os.SEEK_END)
    return last == b"\n"


def parse_record(data: dict[str, Any]) -> Record:
    """A record from its JSON object, as a journal line holds it."""
    return _RECORD.validate_python(data)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def journal_from(configuration: dict[str, Any] | None) -> Journal:
    """The journal a Chaos Toolkit activity writes to, from its ``configuration``."""
    path = (configuration or {}).get("mlchaos_journal", "mlchaos-journal.jsonl")
    return Journal(Path(path))
