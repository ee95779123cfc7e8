"""An experiment: one fault, the steady state it must not break for long, and the targets.

```yaml
version: 1
name: bad-version-inverted
fault: {type: bad_version, model: credit-risk, variant: inverted}
steady_state:
  - {name: error-ratio, query: "...", below: 0.01}
expect:
  detection: {alert: ModelPredictionShift, within: 5s}
  paging: {service: model-oncall, within: 10s}
  acknowledgement: {within: 30s}
  mitigation: {by: rollback, within: 20s}
  recovery: {within: 30s}
```
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mlchaos.schema.units import Duration, Share, Sigma
from mlchaos.vocabulary import JUDGED

__all__ = [
    "DEFAULT_DELAY_S",
    "GATEWAY_FAULT_TYPES",
    "Abort",
    "Acknowledgement",
    "AnyGatewayFault",
    "ApprovalCheck",
    "BadVersionFault",
    "ConceptDriftFault",
    "DataDriftFault",
    "DependencyFault",
    "Detection",
    "ErrorBurstFault",
    "Escalation",
    "Expectations",
    "Experiment",
    "Fault",
    "FeatureName",
    "Frozen",
    "GatewayFault",
    "GoodVersionFault",
    "KubernetesDeployment",
    "LatencySpikeFault",
    "MissingFeaturesFault",
    "Mitigation",
    "Name",
    "Paging",
    "PiiCanaryFault",
    "PiiKind",
    "PluginFault",
    "PoisonedDataFault",
    "PrivacyCheck",
    "ProcessFault",
    "Promotion",
    "Recovery",
    "SchemaChangeFault",
    "SecretRotationFault",
    "SegmentRegressionFault",
    "Slo",
    "Target",
]

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)]
Target = Annotated[Duration, Field(gt=0, le=86400)]
"""How long an event may take: more than 0, and at most a day (86400s)."""


class Frozen(BaseModel):
    """Every schema model is immutable and rejects unknown keys. A field's docstring is its
    description in the published JSON Schema (``mlchaos schema``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


FeatureName = Annotated[str, Field(min_length=1, max_length=100)]


class KubernetesDeployment(Frozen):
    """Where a bad version goes on Kubernetes: a container of a Deployment gets a bad image
    or bad environment, and is rolled back with a rollout undo to the previous revision."""

    deployment: Name
    namespace: Name = "default"
    container: Name
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    reverter_image: str = "bitnami/kubectl:1.30"
    """Image of the in-cluster Job that undoes the rollout when the lease's TTL runs out."""
    service_account: Name = "mlchaos-reverter"
    """Needs get and patch on deployments, and list on replicasets, in ``namespace``."""

    @model_validator(mode="after")
    def _changes_the_pod(self) -> KubernetesDeployment:
        if (self.image is None) == (not self.env):
            raise ValueError("give exactly one of 'image' or 'env'")
        return self


class BadVersionFault(Frozen):
    """Promote a broken artifact: to the registry's ``production`` alias, or to a Deployment."""

    type: Literal["bad_version"]
    model: Name | None = None
    """Default: the service's model."""
    variant: Name | None = None
    """A broken build, by the name the service file's ``versions.bad`` gives it (default
    ``inverted``). On MLflow, ``slow`` or ``constant`` when ``versions.bad`` does not name it:
    mlchaos builds it from the champion, registers it as a new version, and deletes it after."""
    delay: Duration | None = Field(default=None, gt=0, le=60)
    """For a ``slow`` build mlchaos makes: how long each prediction call waits (default
    0.3 s). A server that predicts one request at a time answers at most 1/delay per second."""
    version: str | None = Field(default=None, min_length=1, max_length=200)
    """Instead of ``variant``: the registry version itself (an MLflow version number)."""
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: the target reverts the promotion by itself when it runs out."""
    kubernetes: KubernetesDeployment | None = None
    """Promote by patching this Deployment instead of the registry."""
    rollout: Literal["canary"] | None = None
    """``canary``: make the version the team rollout's candidate (the service file's
    ``rollout:``) and start the rollout, instead of promoting it; mlchaos then only watches
    what is served. Expect ``abort``."""

    @model_validator(mode="after")
    def _one_version(self) -> BadVersionFault:
        if self.variant is not None and self.version is not None:
            raise ValueError("give 'variant' (a name in versions.bad) or 'version', not both")
        if self.rollout is not None and self.kubernetes is not None:
            raise ValueError("a canary goes through the service file's rollout, not kubernetes")
        return self


class GoodVersionFault(Frozen):
    """The control run of a canary: a version the team trusts, rolled out the same way as a
    bad one. Its rollout must promote it: an abort is a false alarm, and fails."""

    type: Literal["good_version"]
    model: Name | None = None
    """Default: the service's model."""
    version: str = Field(min_length=1, max_length=200)
    """The registry version (an MLflow version number): not the one that serves."""
    rollout: Literal["canary"] = "canary"
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: everything the rollout moved is put back by itself when it runs out."""


DEFAULT_DELAY_S = 0.2
"""A slow dependency's default delay."""


class DependencyFault(Frozen):
    """Break something the model server depends on (the service file's ``dependencies``),
    through that component's own mechanisms; never at the gateway."""

    type: Literal["dependency"]
    dependency: Name
    """The service file's name for it (``dependencies.<name>``)."""
    mode: Literal["outage", "slow", "stale"]
    """``outage``: it stops answering; ``slow``: every answer waits up to ``delay``;
    ``stale``: one feature view's values vanish from the online store, so lookups come back
    NOT_FOUND and nothing fails (the silent failure)."""
    delay: Duration = Field(default=DEFAULT_DELAY_S, gt=0, le=10)
    """For ``slow``: about the longest wait an answer gets (half of them wait none)."""
    feature_view: Name | None = None
    """For ``stale``: which of the service file's ``feast.views``."""
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: the dependency answers again (``outage``, ``slow``: within a second even if
    every mlchaos process is killed), and the vanished values come back (``stale``: the lease
    keeper puts them back, or `mlchaos recover`)."""

    @model_validator(mode="after")
    def _view_for_stale(self) -> DependencyFault:
        if self.mode == "stale" and self.feature_view is None:
            raise ValueError("a stale dependency names its feature_view")
        if self.mode != "stale" and self.feature_view is not None:
            raise ValueError(f"feature_view is for mode stale, not {self.mode}")
        if self.mode != "slow" and self.delay != DEFAULT_DELAY_S:
            raise ValueError(f"delay is for mode slow, not {self.mode}")
        return self


class SecretRotationFault(Frozen):
    """Rotate the credential a consumer (the model server) uses for a dependency, without
    telling it: the dependency takes a new password and the team's secret store holds it, but
    the consumer still has the old one. What brings it back is the team's propagation step."""

    type: Literal["secret_rotation"]
    dependency: Name
    """The service file's name for it (``dependencies.<name>``)."""
    user: str = Field(min_length=1, max_length=200)
    """The consumer's user at the dependency: one of ``dependencies.<name>.secrets``."""
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: the old credential is put back (the dependency's and the secret store's),
    and the team's propagation step run, by the lease keeper or `mlchaos recover`."""


class ProcessFault(Frozen):
    """Break the model server's process on its machine (the service file's ``processes``):
    ``kill`` it (SIGKILL, as the OOM killer does) or ``cpu_starve`` it (a co-located hog on
    its cores, bounded by the lease)."""

    type: Literal["process"]
    process: Name
    """The service file's name for it (``processes.<name>``)."""
    action: Literal["kill", "cpu_starve"]
    scope: Literal["server", "worker"] = "server"
    """For ``kill``: the whole server, or its newest worker process."""
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: the hogs stop by themselves when it runs out (``cpu_starve``); a kill holds
    nothing, and its revert waits until the server answers again."""

    @model_validator(mode="after")
    def _scope_for_kill(self) -> ProcessFault:
        if self.action != "kill" and self.scope != "server":
            raise ValueError(f"scope is for action kill, not {self.action}")
        return self


PiiKind = Literal["email", "card_number", "national_id", "phone"]
"""The kinds of personal data a ``pii_canary`` fakes: an email address (on the ``.invalid``
domain), a payment card number (Luhn-valid, on a test range), a national id (SSN-shaped, in the
9xx area no SSN is issued in), a phone number (in the 555-01xx range kept for fiction)."""


class PiiCanaryFault(Frozen):
    """Send requests that carry unique, fake personal data where the service file's
    ``privacy.fields`` say requests carry it, each value with a marker of this run; the
    experiment's ``expect.privacy`` then searches every place ``privacy.sinks`` names."""

    type: Literal["pii_canary"]
    requests: int = Field(default=10, ge=1, le=1000)
    """How many canary requests: each carries its own values, built on the payload's rows."""
    ttl: Duration = Field(default=60.0, gt=0, le=3600)
    """A canary holds nothing to put back: the fake values stay where they landed, as the
    evidence, and are harmless (no real person, no real card)."""


class PoisonedDataFault(Frozen):
    """Poison the training snapshot the team's retrain pipeline reads (the service file's
    ``training``): flip a share of its labels, in one segment or everywhere. mlchaos then runs
    the team's retrain, and the experiment's ``expect.approval`` judges the approval gate."""

    type: Literal["poisoned_data"]
    flip_labels: Share
    """The share of the chosen rows whose label flips to the other value."""
    of_label: str | None = Field(default=None, min_length=1, max_length=100)
    """Only rows with this label (``1``: frauds relabelled as legitimate, as disputed
    chargebacks would); by default, rows of either label."""
    where: dict[FeatureName, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict, max_length=10
    )
    """Only rows of one segment, by column value (``{channel: "0"}``): the poison biases that
    segment. Numbers compare as numbers (``0`` matches ``0.0``)."""
    seed: int = 0
    """Seeds which rows flip: the same seed poisons the same rows of the same snapshot."""
    ttl: Duration = Field(default=900.0, gt=0, le=7200)
    """Lease TTL: the snapshot is put back by the lease keeper when it runs out (or by the
    revert, or `mlchaos recover`), and ``champion`` with it if a poisoned version took it."""


class GatewayFault(Frozen):
    """What every fault the chaos gateway applies shares: which requests, and for how long."""

    share: Share = 1.0
    """The share of requests the fault applies to, chosen by a random stream seeded by ``seed``."""
    seed: int = 0
    ttl: Duration = Field(default=300.0, gt=0, le=3600)
    """Lease TTL: the gateway ends the fault by itself when it runs out."""


class SchemaChangeFault(GatewayFault):
    """Rename, drop or retype features in request bodies, as an upstream change would."""

    type: Literal["schema_change"]
    rename: dict[FeatureName, FeatureName] = Field(default_factory=dict)
    drop: tuple[FeatureName, ...] = ()
    retype: dict[FeatureName, Literal["string"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _changes_something(self) -> SchemaChangeFault:
        if not (self.rename or self.drop or self.retype):
            raise ValueError("give at least one of 'rename', 'drop' or 'retype'")
        return self


class DataDriftFault(GatewayFault):
    """Shift one feature's values by ``shift`` training sigmas and/or scale them, or change
    the category mix: ``mix: {young: 60%}`` makes that share of requests fall in the band the
    service file's ``segments`` gives ``young``."""

    type: Literal["data_drift"]
    feature: FeatureName | None = None
    shift: Sigma = 0.0
    """In the feature's training standard deviations (``0.5sigma``): σ comes from the model
    server's published reference, else from the payload's values of the feature."""
    scale: float = Field(default=1.0, gt=0, le=1000, allow_inf_nan=False)
    """Multiply the values (``2.0`` doubles every amount); needs no σ."""
    add: float = Field(default=0.0, ge=-1e12, le=1e12, allow_inf_nan=False)
    """An absolute shift in the feature's own units (``add: 500``), after ``scale``; needs no σ."""
    mix: dict[Name, Share] = Field(default_factory=dict)
    categories: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    """The values of a categorical ``feature`` for a ``mix`` on it; without them, the mix uses
    the segments (bands) the service file gives."""

    @model_validator(mode="after")
    def _drifts(self) -> DataDriftFault:
        if self.shift == 0 and self.scale == 1 and self.add == 0 and not self.mix:
            raise ValueError(
                "give a non-zero 'shift' (such as 0.5sigma) or 'add', a 'scale' other than 1, "
                "or a 'mix'"
            )
        if len(self.mix) > 1:
            raise ValueError("'mix' takes one segment and the share of requests it should have")
        if not self.mix and self.feature is None:
            raise ValueError("give the 'feature' to shift or scale")
        if self.categories and (self.feature is None or not set(self.mix) <= set(self.categories)):
            raise ValueError("a mix over 'categories' needs the 'feature' and one of them to mix")
        if self.categories and len(set(self.categories)) < 2:
            raise ValueError("'categories' needs at least two values to mix between")
        return self


class LatencySpikeFault(GatewayFault):
    """Delay requests on the way to the model: a fixed delay or an exponential one."""

    type: Literal["latency_spike"]
    delay: Duration = Field(gt=0, le=600)
    """At most 10 minutes: a longer delay is an outage, better written as an error burst."""
    distribution: Literal["fixed", "exponential"] = "fixed"


class ErrorBurstFault(GatewayFault):
    """Answer requests with a 5xx before they reach the model."""

    type: Literal["error_burst"]
    status: int = Field(default=503, ge=500, le=599)


class MissingFeaturesFault(GatewayFault):
    """Replace features' values with null or NaN."""

    type: Literal["missing_features"]
    features: tuple[FeatureName, ...] = Field(min_length=1)
    value: Literal["null", "nan"] = "null"


class ConceptDriftFault(GatewayFault):
    """The world changes: the true outcome of a share of requests becomes the opposite one.

    Inputs and predictions look as before; only the labels that arrive later, joined by
    request id, show it. Detection can be no faster than the label lag.
    """

    type: Literal["concept_drift"]


class SegmentRegressionFault(Frozen):
    """Promote a version that is worse on one segment only: aggregate metrics stay fine while
    a fairness gap opens for that group."""

    type: Literal["segment_regression"]
    model: Name | None = None
    """Default: the service's model."""
    segment: Name
    """A segment the service file's ``versions.segment`` has a regressed version for."""
    ttl: Duration = Field(default=300.0, gt=0, le=3600)


class PluginFault(Frozen):
    """A fault from another package, found by ``plugin`` in the ``mlchaos.faults`` entry points.

    Its ``arguments`` are bound to the plugin's ``inject`` signature when the file is validated.
    """

    type: Literal["plugin"]
    plugin: Name
    arguments: dict[str, Any] = Field(default_factory=dict)
    ttl: Duration = Field(default=300.0, gt=0, le=3600)


AnyGatewayFault = (
    SchemaChangeFault
    | DataDriftFault
    | LatencySpikeFault
    | ErrorBurstFault
    | MissingFeaturesFault
    | ConceptDriftFault
)

GATEWAY_FAULT_TYPES: tuple[str, ...] = tuple(
    get_args(member.model_fields["type"].annotation)[0] for member in get_args(AnyGatewayFault)
)
"""The ``type`` of every fault the chaos gateway applies, in one place."""

Fault = Annotated[
    BadVersionFault
    | SchemaChangeFault
    | DataDriftFault
    | LatencySpikeFault
    | ErrorBurstFault
    | MissingFeaturesFault
    | ConceptDriftFault
    | SegmentRegressionFault
    | GoodVersionFault
    | DependencyFault
    | SecretRotationFault
    | ProcessFault
    | PiiCanaryFault
    | PoisonedDataFault
    | PluginFault,
    Field(discriminator="type"),
]


class Slo(Frozen):
    """A PromQL query whose single value must stay ``below`` or ``above`` a threshold."""

    name: Name
    query: str = Field(min_length=1)
    below: float | None = Field(default=None, allow_inf_nan=False)
    above: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_bound(self) -> Slo:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' or 'above'")
        return self

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets this objective."""
        if self.below is not None:
            return value < self.below
        assert self.above is not None
        return value > self.above

    @property
    def condition(self) -> str:
        return f"< {self.below:g}" if self.below is not None else f"> {self.above:g}"


class Detection(Frozen):
    alert: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")
    within: Target


class Paging(Frozen):
    service: Name = "model-oncall"
    within: Target


class Acknowledgement(Frozen):
    within: Target


def _not_a_request(value: object) -> object:
    if value == "retrain":
        raise ValueError(
            "a retrain request is not a mitigation: nothing served changes until a retrained "
            "version is deployed; expect a rollback or a fallback, or leave mitigation out and "
            "let the runbook's retrain step run as a drill"
        )
    return value


class Mitigation(Frozen):
    by: Annotated[Literal["rollback", "fallback"], BeforeValidator(_not_a_request)] = "rollback"
    """How the team's systems take the fault out of what is served, read from the answers the
    gateway sees (never from an audit entry alone): ``rollback``, the bad version stops
    answering; ``fallback``, the fallback (the service file's ``versions.fallback``) answers."""
    within: Target
    served_below: Share = 0.05
    """Mitigated once what the fault put in service gives less than this share of the answers
    (for ``fallback``: once the fallback gives all but this share, answered with a 2xx), and
    keeps it so for ``stays_for``."""
    stays_for: Duration = Field(default=5.0, ge=0, le=3600)


class Recovery(Frozen):
    within: Target
    stable_for: Duration = Field(default=3.0, ge=0, le=3600)
    """The SLO must hold this long before the service counts as recovered."""


class Escalation(Frozen):
    within: Target
    """How long after the page the pager's escalation policy must notify its next level, when
    nobody acknowledged. The experiment's premise is that nobody answers: mlchaos's automated
    responder leaves its pages alone (in a human game day, do not `mlchaos ack` them)."""


class Abort(Frozen):
    """A canary of a bad version: the team's rollout must take it out of service in time,
    before it reaches ``max_share`` of the answers."""

    within: Target
    """From the candidate's first answer to its last, before a run of ``stays_for`` without
    any (and long enough that, at its share before, it would have answered 5 times): read from
    what the gateway served, never from the rollout's own status."""
    max_share: Share | None = None
    """The largest share of answers (over any 3 s) the bad version may reach; at or above it,
    the canary went too far, whenever it aborted."""
    stays_for: Duration = Field(default=5.0, ge=1, le=3600)


class PrivacyCheck(Frozen):
    """A ``pii_canary``'s expectation: no marker of the run may be found in the canaries'
    answers or in any place the service file's ``privacy.sinks`` name."""

    search_for: Duration = Field(default=15.0, gt=0, le=600)
    """How long the places are searched after the last canary was answered: long enough for
    a log to be flushed and Prometheus to scrape. A marker found ends the search at once."""


class ApprovalCheck(Frozen):
    """A ``poisoned_data`` fault's expectation: the team's approval gate must reject every
    version its retrain pipeline trains on the poisoned snapshot, in time, and none may be
    served."""

    rejected_within: Target
    """From mlchaos running the team's retrain step to the gate's rejection (its decision
    tag on the new version, as MLflow shows it)."""
    never_served_for: Duration = Field(default=10.0, ge=0, le=3600)
    """How long after the decision (and the retrain's end) the version is watched: the
    registry's alias must not name it, nor any answer come from it."""


class Promotion(Frozen):
    """The control run of a canary: the team's rollout must promote a good version in time."""

    within: Target
    """From the candidate's first answer until it gives every answer, kept for ``stays_for``
    (no request left on the old version)."""
    stays_for: Duration = Field(default=5.0, ge=1, le=3600)


class Expectations(Frozen):
    detection: Detection | None = None
    """The alert that must catch the fault. A canary may leave it out: its rollout's analysis
    is what must catch a bad version (``abort``), and a good one must raise nothing."""
    paging: Paging | None = None
    escalation: Escalation | None = None
    acknowledgement: Acknowledgement | None = None
    mitigation: Mitigation | None = None
    recovery: Recovery | None = None
    """Leave out only when the fault cannot end inside the game day, and say why in
    ``no_recovery`` (drift ends with a retrain)."""
    no_recovery: str | None = Field(default=None, min_length=1, max_length=300)
    """Why there is no recovery target: the results say so, instead of leaving it unjudged
    in silence."""
    abort: Abort | None = None
    """A canary of a bad version (``bad_version`` with ``rollout: canary``)."""
    promotion: Promotion | None = None
    """A canary's control run (``good_version``)."""
    privacy: PrivacyCheck | None = None
    """A ``pii_canary``: where its fake personal data must not be found."""
    approval: ApprovalCheck | None = None
    """A ``poisoned_data`` fault: the approval gate must reject what was trained on it."""

    @model_validator(mode="after")
    def _recovery_or_why_not(self) -> Expectations:
        if self.recovery is not None and self.no_recovery is not None:
            raise ValueError("give 'recovery' or say why there is none ('no_recovery'), not both")
        if self.abort is not None and self.promotion is not None:
            raise ValueError("expect 'abort' (a bad version) or 'promotion' (a good one), not both")
        if (self.detection is None and self.abort is None and self.promotion is None
                and self.privacy is None and self.approval is None):
            raise ValueError(
                "'detection' is missing: which alert must catch the fault? (a canary may expect "
                "'abort' or 'promotion' instead, a pii_canary 'privacy', poisoned_data "
                "'approval')"
            )
        if self.detection is None and (self.paging or self.escalation or self.mitigation):
            raise ValueError("paging, escalation and mitigation follow an alert: give 'detection'")
        return self

    @property
    def alert(self) -> str:
        """The alert that must catch the fault; empty for a canary without one."""
        return self.detection.alert if self.detection else ""

    def targets(self) -> dict[str, float]:
        """Target seconds by duration name (``mttd``, ``time_to_page``, ``mtta``, ...)."""
        pairs = {m.name: getattr(self, str(m.expectation)) for m in JUDGED}
        return {name: exp.within for name, exp in pairs.items() if exp is not None}


_WAITED = (
    "detected", "fired", "paged", "escalated", "acknowledged", "mitigated", "recovered",
    "aborted", "promoted",
)  # fmt: skip


class Experiment(Frozen):
    version: Literal[1] = 1
    name: Name
    title: str | None = None
    description: str = ""
    fault: Fault
    steady_state: tuple[Slo, ...] = Field(min_length=1)
    expect: Expectations
    min_traffic_rps: float = Field(default=1.0, ge=0, le=1_000_000, allow_inf_nan=False)
    """Below this request rate the service is idle and nothing can be concluded."""
    min_success: Share = 0.9
    """The share of requests the chaos gateway must answer with a 2xx for the service to count
    as serving: before injection (else the run is inconclusive) and for recovery."""
    give_up_after: Duration | None = Field(default=None, gt=0, le=86400)
    """How long after injection to keep waiting for every event; by default each event is
    waited for until its own target only: once a target has passed, its event can no longer
    count, and the fault is not kept in to see how late it comes. Set it to keep a fault in
    that long, to learn when late events arrive."""
    stop_when: tuple[Slo, ...] = ()
    """Stop conditions: guards that must hold while the fault is in. When one breaches,
    mlchaos reverts the fault at once and the verdict is *stopped* (with the service file's
    ``stop_conditions``, which apply to every experiment)."""

    @model_validator(mode="after")
    def _acknowledgement_needs_paging(self) -> Experiment:
        if self.expect.acknowledgement is not None and self.expect.paging is None:
            raise ValueError("expect.acknowledgement needs expect.paging: only a page is acked")
        if self.expect.escalation is not None and self.expect.paging is None:
            raise ValueError("expect.escalation needs expect.paging: only a page escalates")
        canary = getattr(self.fault, "rollout", None) == "canary"
        if canary and self.fault.type == "bad_version" and self.expect.abort is None:
            raise ValueError("a canary of a bad version expects 'abort': {within: ...}")
        if self.fault.type == "good_version" and self.expect.promotion is None:
            raise ValueError("a good_version control expects 'promotion': {within: ...}")
        if not canary and (self.expect.abort or self.expect.promotion):
            raise ValueError("expect 'abort' or 'promotion' only of a canary (rollout: canary)")
        if (self.fault.type == "pii_canary") != (self.expect.privacy is not None):
            raise ValueError("a pii_canary expects 'privacy' ({search_for: ...}), and only it")
        if (self.fault.type == "poisoned_data") != (self.expect.approval is not None):
            raise ValueError(
                "poisoned_data expects 'approval' ({rejected_within: ...}), and only it")
        return self

    @property
    def deadline_s(self) -> float:
        """Seconds after injection at which the last waiter gives up."""
        return max(self.waits_s().values())

    def waits_s(self) -> dict[str, float]:
        """How long after injection each event is waited for: until its own target (the
        acknowledgement's runs from the page), an event without one until the next target."""
        if self.give_up_after is not None:
            return {e: self.give_up_after for e in _WAITED}
        expect = self.expect
        privacy = expect.privacy.search_for if expect.privacy else 0.0
        approval = expect.approval.rejected_within if expect.approval else 0.0
        last = max(self.expect.targets().values(), default=max(privacy, approval))
        detection = expect.detection.within if expect.detection else last
        paging = expect.paging.within if expect.paging else detection
        return {
            "detected": detection,
            "fired": max(paging, detection),
            "paged": paging,
            "escalated": last,  # and no longer than the target after the page
            "acknowledged": last,  # and no longer than the target after the page
            "mitigated": expect.mitigation.within if expect.mitigation else last,
            "recovered": expect.recovery.within if expect.recovery else last,
            # and as long again as the candidate must stay out (or in) to count
            # (an abort at a 1% step shows only after hundreds of answers without the candidate)
            "aborted": expect.abort.within + expect.abort.stays_for + 20 if expect.abort else last,
            "promoted": (
                expect.promotion.within + expect.promotion.stays_for + 1
                if expect.promotion else last
            ),
        }
