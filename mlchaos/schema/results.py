"""``results.json`` as a typed document: the contract CI and users' scripts read.

Every run writes one (`mlchaos.report.results.write_results`), validated by this model, and
every report (JUnit, postmortem, HTML, the aggregate) is rendered from it. Its JSON Schema is
``mlchaos schema results``.

Compatibility: ``schema_version`` names the shape. A field may be added with a default (older
documents still read, the field taking its default); a field removed, renamed or retyped is a
new ``schema_version``, and `read_results` keeps reading the older ones
(``tests/fixtures/results/`` holds one of each).

    >>> doc = ResultsDocument.model_validate_json(path.read_text())  # doctest: +SKIP
    >>> [e.verdict for e in doc.experiments]  # doctest: +SKIP
    ['pass', 'fail']
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mlchaos.vocabulary import Verdict

__all__ = [
    "SCHEMA_VERSION",
    "Actor",
    "Approval",
    "ApprovalRetrain",
    "ApprovalVersion",
    "Baseline",
    "ControllerSaid",
    "Expected",
    "ExperimentBaseline",
    "ExperimentResults",
    "FairnessGap",
    "Floor",
    "LeftAsFound",
    "LoadSummary",
    "Page",
    "Part",
    "Privacy",
    "PrivacyFind",
    "PrivacySink",
    "QuietStartCheck",
    "ResultsDocument",
    "Rollout",
    "Served",
    "ServiceRun",
    "SliSeen",
    "SloBudget",
    "StepRun",
    "TierSeen",
    "VersionShare",
]

SCHEMA_VERSION = 1


class Part(BaseModel):
    """Every part of the document: a field nobody declared is a defect in mlchaos, caught
    when the document is written, never shipped."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class LoadSummary(Part):
    """What Locust sent over the whole game day."""

    users: int
    target_rps: float
    achieved_rps: float
    requests: int
    failures: int
    p50_ms: float | None
    p99_ms: float | None
    duration_s: float
    workers: int = 0
    """Locust workers under a master (``load.workers`` and ``remote_workers``); 0: one
    process. With workers, the figures are the master's, combined."""


class QuietStartCheck(Part):
    """The false-alarm check under load before the first fault."""

    status: Literal["checked", "cannot tell", "not serving"]
    reason: str | None = None
    """Why it could not tell, or why the service was not serving."""
    sources: list[str] = Field(default_factory=list)
    """What it read: the pager, the registry's audit log, the gateway's answers."""


class Baseline(Part):
    """Staging before the game day."""

    problems: list[str] = Field(default_factory=list)
    """What keeps the game day from passing: a source that could not be read, a firing alert."""
    inherited_alerts: dict[str, str] = Field(default_factory=dict)
    """Alerts on the model already active at the start: name -> state and since when."""
    production: str | None = None
    """The version production was on at the start, in the registry's word."""


class LeftAsFound(Part):
    """What served after an experiment or the last one, against the declared baseline."""

    expected: str | None = None
    """The version the service file declares as the baseline (``versions.good``)."""
    served: list[str] = Field(default_factory=list)
    """The versions that answered in the window read."""
    restored: bool = False
    """True when mlchaos had to put the baseline back."""
    changes: list[str] = Field(default_factory=list)
    """What mlchaos changed to restore it."""
    problem: str | None = None
    """Why what served could not be read, or the baseline could not be restored."""


ExperimentBaseline = LeftAsFound
"""What an experiment started from: the same fields as `LeftAsFound`."""


class Actor(Part):
    """Who caused an event: a team system (Prometheus, the rollback controller) or mlchaos."""

    actor: str | None
    party: Literal["team", "mlchaos"] | None
    """``mlchaos`` for the injector, the simulated responder and the lease keeper; a
    duration ending in an mlchaos event is simulated, never judged."""


class Floor(Part):
    """How fast the team's monitoring can see anything: its scrape and rule intervals."""

    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: float
    group_wait_s: float
    source: str
    """``read`` from Prometheus and Alertmanager, or ``declared`` in the service file."""
    total_s: float


class Expected(Part):
    """What the team's systems should do, by the experiment's ``expect``."""

    alert: str | None = None
    """The alert that must catch the fault; null for a canary that expects none."""
    paging_service: str | None = None
    mitigation: str | None = None
    """``rollback`` or ``fallback`` (older documents may name ``retrain``)."""
    no_recovery: str | None = None
    """Why the experiment has no recovery target (``expect.no_recovery``)."""


class StepRun(Part):
    """A runbook step the responder ran: a drill, never the team's mitigation."""

    runbook: str
    step: str
    command: str
    at: str
    duration_s: float
    ok: bool
    error: str = ""
    incident: str | None = None
    alert: str | None = None


class VersionShare(Part):
    """The share of answers a promoted version gave while it was in."""

    version: str
    fraction: float
    answered: int
    source: str


class Served(Part):
    """What clients were served while the fault was in, as the chaos gateway counted it."""

    p95_s: float | None = None
    p99_s: float | None = None
    validation_failure_share: float | None = None
    """The share of requests answered 4xx: rejected as invalid."""
    source: str | None = None
    reason: str | None = None


class FairnessGap(Part):
    """The gap between segments of the team's figure per segment (``segments.score``)."""

    segments: int | None = None
    """How many segments the figure had over the window."""
    before: float | None = None
    """At injection."""
    peak: float | None = None
    end: float | None = None
    """At the window's end (the revert)."""
    source: str | None = None
    reason: str | None = None


class SliSeen(Part):
    """A steady-state SLI's worst value while the fault was in, against its SLO."""

    name: str
    condition: Literal["below", "above"]
    threshold: float
    worst: float | None = None
    held: bool | None = None
    """Whether the SLO held throughout; None without samples."""


class TierSeen(Part):
    """One burn-rate tier of an SLO over an experiment's window."""

    tier: str
    factor: float
    severity: str
    alert: str
    should_fire: bool
    """Both its windows burned above its factor at some second (its ``for`` aside)."""
    fired: bool
    """Its alert fired, in Prometheus's ALERTS, during the window or just after."""


class SloBudget(Part):
    """What an experiment's window cost one of the service's SLOs."""

    slo: str
    objective: float
    time_scale: float
    period_s: float
    """The SLO's period, time-scaled as its alerts are."""
    window_s: float
    error_ratio: float | None = None
    burn_rate: float | None = None
    """The average over the window: error ratio / (1 - objective)."""
    consumed: float | None = None
    """The share of the period's error budget the window used: burn x window / period."""
    peak_burn: float | None = None
    peak_window_s: float | None = None
    tiers: list[TierSeen] = Field(default_factory=list)
    reason: str | None = None
    """Why figures are missing (no data, Prometheus unreadable)."""


class ControllerSaid(Part):
    """A rollout controller's own account, read from its metrics in Prometheus."""

    controller: str
    phase: str | None = None
    """``progressing``, ``paused``, ``aborted``, ``healthy`` or ``promoted``; null: not exported."""
    analysis: str | None = None
    canary_weight: float | None = None
    reason: str | None = None
    """Why it could not be read."""


class Rollout(Part):
    """A canary: what the team's rollout did with the candidate, read from the answers."""

    version: str
    expected: Literal["aborted", "promoted"]
    outcome: Literal["aborted", "promoted", "unsettled"]
    """``unsettled``: neither by the end of the watch (a paused rollout stays so)."""
    at: str | None = None
    """The candidate's last answer (aborted), or the first second it gave every answer."""
    largest_share: float | None = None
    """The most of the answers it gave over any 3 s."""
    largest_at: str | None = None
    max_share: float | None = None
    """The experiment's bound on ``largest_share`` (``expect.abort.max_share``)."""
    share_at_end: float | None = None
    """Its share of the last 3 s of answers when the watch ended."""
    answered_by_it: int = 0
    answered: int = 0
    source: str
    controller_said: ControllerSaid | None = None
    """What the rollout controller said of it (Argo Rollouts, Flagger): never judged."""


class PrivacyFind(Part):
    sink: str
    where: str
    """The file and line, the label, or the answer: never the content around it."""
    kind: str
    """``email``, ``card_number``, ``national_id``, or ``marker`` (the run's marker alone)."""
    value: str
    """The canary value found: fake by construction."""


class PrivacySink(Part):
    sink: str
    """The service file's name for the place (``answers``: the canaries' own answers)."""
    read: str = ""
    """What was read there (``2 file(s), 1.4 MB``, ``40 labels, 812 values``)."""
    finds: list[PrivacyFind] = Field(default_factory=list)
    error: str | None = None
    """Why it could not be searched: no pass rests on it."""


class Privacy(Part):
    """A ``pii_canary``: the run's marker, and each place searched for its fake values."""

    marker: str
    started: str
    ended: str
    searches: int
    sinks: list[PrivacySink]
    found: int
    """Finds in all places: any fails the experiment."""


class ApprovalVersion(Part):
    """A version registered while the training snapshot was poisoned, and what became of it."""

    version: str
    created_at: str
    run_id: str = ""
    decision: str | None = None
    """The gate's decision tag, as written."""
    outcome: Literal["approved", "rejected", "other", "undecided"]
    reason: str = ""
    """Why, in the gate's own words (its reason tag)."""
    decided_at: str | None = None
    """When mlchaos first saw the decision (MLflow keeps no time for a tag; read every 0.5 s)."""
    time_to_decision_s: float | None = None
    """From mlchaos running the retrain step to the decision."""
    alias_named_at: str | None = None
    """When the registry's alias was seen naming it: served."""
    served_answers: int = 0


class ApprovalRetrain(Part):
    ok: bool = False
    ended_at: str | None = None
    error: str | None = None


class Approval(Part):
    """A ``poisoned_data`` fault: the retrain mlchaos ran on the poisoned snapshot, and what
    the team's approval gate decided on each version it produced."""

    triggered_at: str
    """When mlchaos ran the team's retrain step (mlchaos's doing, as the team's schedule)."""
    retrain: ApprovalRetrain
    versions: list[ApprovalVersion]
    rejected_within_s: float
    watched_until: str
    error: str | None = None


class Page(Part):
    """A page from injection to the end of the experiment's window."""

    id: str
    alert: str | None
    role: Literal["experiment", "collateral"]
    """``collateral``: another alert's page; reported, never judged."""
    summary: str = ""
    triggered_at: str
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    acknowledged: bool = False


class ExperimentResults(Part):
    """One experiment's verdict and everything it rests on."""

    name: str
    fault: str
    verdict: Verdict
    service: str | None = None
    """The service it ran against (its file's ``name``), in a game day over several services."""
    timeline: dict[str, str | None]
    """Event name (``injected``, ``detected``, ``fired``, ``paged``, ``acknowledged``,
    ``mitigated``, ``recovered``, ``reverted``) -> ISO time, or null when not seen."""
    sources: dict[str, str]
    """Event name -> what it was read from."""
    durations_s: dict[str, float | None]
    """Duration name (``mttd``, ``time_to_fire``, ``time_to_page``, ``mtta``, ``mttm``,
    ``mttr``) -> seconds, or null when an end was not seen."""
    targets_s: dict[str, float]
    floor_s: float | None = None
    """The floor of MTTD: scrape plus evaluation interval."""
    floor: Floor | None = None
    floors_s: dict[str, float] | None = None
    reasons: list[str] = Field(default_factory=list)
    """Why the verdict is not a pass, one line each."""
    fault_detail: dict[str, JsonValue] = Field(default_factory=dict)
    """The fault's parameters as run, and what its injection found (``alias_moved_at``)."""
    expected: Expected | None = None
    runbook_steps: list[StepRun] = Field(default_factory=list)
    load_rps: float | None = None
    """Requests per second the service counted while the fault was in."""
    collateral_steps: list[StepRun] = Field(default_factory=list)
    version_mismatch: VersionShare | None = None
    rollout: Rollout | None = None
    """For a canary: how far the candidate got, and what the rollout did with it."""
    privacy: Privacy | None = None
    """For a ``pii_canary``: where its fake personal data was searched for, and found."""
    approval: Approval | None = None
    """For ``poisoned_data``: what the team's approval gate decided on the poisoned retrain."""
    budget: list[SloBudget] = Field(default_factory=list)
    """What the fault's window cost each of the service's SLOs."""
    served: Served | None = None
    """What clients were served while the fault was in."""
    fairness: FairnessGap | None = None
    """Where the service file gives ``segments.score``: the gap between segments."""
    slis_while_in: list[SliSeen] = Field(default_factory=list)
    """Each steady-state SLI's worst value while the fault was in: what broke, what held."""
    pages: list[Page] = Field(default_factory=list)
    actors: dict[str, Actor] = Field(default_factory=dict)
    """Event name -> who caused it (absent from documents written before actors were kept)."""
    simulated: dict[str, str] = Field(default_factory=dict)
    """Duration name -> why it is simulated: reported, never judged."""
    notes: list[str] = Field(default_factory=list)
    """What was not judged, and why."""
    baseline: ExperimentBaseline | None = None


class ServiceRun(Part):
    """One service's game day inside a game day over several services."""

    name: str
    """The service file's ``name``."""
    file: str | None = None
    """The service file; absent for the reference stack."""
    verdict: Verdict
    exit_code: int
    """Its game day's exit code (see the README's table)."""
    run_dir: str | None = None
    """Its own run folder (every report of a one-service game day), relative to this one."""
    interrupted: bool = False
    load: LoadSummary | None = None
    problems: list[str] = Field(default_factory=list)
    """What kept it from a verdict of its own: its error line, its baseline's problems."""


class ResultsDocument(Part):
    """A run's results: a game day's, or a single ``mlchaos run``'s (a game day of one)."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra={"title": "mlchaos results.json"},
    )

    schema_version: Literal[1] = 1
    scenario: str
    service: str | None = None
    """The service file's ``name`` (the staging the run was against): what the run history
    groups by. Absent in results written before it was added."""
    verdict: Verdict
    started_at: str
    finished_at: str
    responders: Literal["automated", "human"]
    interrupted: bool = False
    load: LoadSummary | None = None
    draw: dict[str, JsonValue] | None = None
    """The wheel of misfortune's count and seed, when the experiments were drawn."""
    false_alarms: list[str] = Field(default_factory=list)
    """Pages, rollbacks and version changes under load before any fault was injected."""
    false_alarm_check: QuietStartCheck | None = None
    """How that check went; absent from documents written before it was kept."""
    baseline: Baseline = Field(default_factory=Baseline)
    left_as_found: LeftAsFound | None = None
    experiments: list[ExperimentResults] = Field(default_factory=list)
    services: list[ServiceRun] = Field(default_factory=list)
    """A game day over several services: each one's game day, in the order they started
    (``parallel``: at the same time). ``experiments`` then holds all of theirs, each naming
    its ``service``; ``load`` and ``baseline`` are each service's, in its own run folder."""
    parallel: bool = False

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_data(cls, data: Any) -> ResultsDocument:
        return cls.model_validate(data)
