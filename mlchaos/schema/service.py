"""A service file: where a user's own staging service lives, for `--service FILE`.

```yaml
version: 1
name: fraud-scorer
model: fraud                         # the model's name in Open Inference Protocol paths
endpoints:
  gateway: http://127.0.0.1:28000    # `mlchaos gateway --upstream YOUR_MODEL` in front of it
  prometheus: http://127.0.0.1:29090
  alertmanager:                      # or, behind authentication and TLS:
    url: https://127.0.0.1:29093
    basic_auth: {username: mlchaos, password_env: ALERTMANAGER_PASSWORD}
    ca_file: certs/ca.pem            # relative to this file
pagerduty:
  url: https://events.pagerduty.com  # or your receiver; events go to URL/v2/enqueue
  service: fraud-oncall
  routing_key_env: FRAUD_PD_ROUTING_KEY   # the key stays in the environment, never in files
traffic_query: sum(rate(http_requests_total{app="fraud"}[1m]))
payload: {file: traffic.jsonl}      # what the load sends: {"features": {...}, "label": 0}
segments:                           # data_drift `mix`: which feature splits traffic, in bands
  feature: age
  bands: {young: [21, 29], adult: [30, 75]}
  score: sum by (segment) (rate(approved_total[1m])) / sum by (segment) (rate(scored_total[1m]))
versions:                           # what registry faults promote
  bad: {inverted: v3-inverted}      # bad_version's variant -> registry version
  segment: {young: v3-segment-young}   # segment_regression's segment -> registry version
rollback:                            # what the automated responder runs for action=rollback
  http: {url: "http://127.0.0.1:28500/rollback", method: POST}
```
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, JsonValue, field_validator, model_validator

from mlchaos.protocols import Codec, Datatype, Protocol
from mlchaos.schema.experiment import FeatureName, Frozen, Name, PiiKind, Slo
from mlchaos.schema.slo import SloSpec
from mlchaos.schema.units import Duration, HttpsUrl, Url

__all__ = [
    "PRODUCTION",
    "Adapters",
    "ApprovalTags",
    "Band",
    "BasicAuth",
    "ControllerRef",
    "Dependency",
    "DependencySecret",
    "Endpoint",
    "Endpoints",
    "EnvName",
    "FeastLayout",
    "Hook",
    "HttpHook",
    "PagerDutyRest",
    "PagerDutyTarget",
    "Payload",
    "Pipeline",
    "Privacy",
    "PrivacySink",
    "ReportedBy",
    "Rollout",
    "Segments",
    "ServiceFile",
    "ServiceProcess",
    "Training",
    "VersionName",
    "Versions",
]


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
"""The name of an environment variable that holds a secret: the secret itself never sits in a
file mlchaos reads or writes."""


class BasicAuth(Frozen):
    username: str = Field(min_length=1, max_length=200)
    password_env: EnvName


class Endpoint(Frozen):
    """An HTTP endpoint and how to reach it: a URL alone, or with credentials and TLS."""

    url: Url
    basic_auth: BasicAuth | None = None
    bearer_token_env: EnvName | None = None
    """The environment variable holding a bearer token (``Authorization: Bearer ...``)."""
    ca_file: str | None = Field(default=None, min_length=1)
    """A CA bundle to trust instead of the system's, relative to the service file."""
    cert_file: str | None = Field(default=None, min_length=1)
    """A client certificate (PEM), for servers that ask for one (mutual TLS)."""
    key_file: str | None = Field(default=None, min_length=1)
    """The client certificate's key, unless ``cert_file`` holds it too."""

    @model_validator(mode="after")
    def _one_way_in(self) -> Endpoint:
        if self.basic_auth is not None and self.bearer_token_env is not None:
            raise ValueError("give 'basic_auth' or 'bearer_token_env', not both")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("'key_file' needs 'cert_file': the certificate it belongs to")
        return self


def _endpoint(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


AnEndpoint = Annotated[Endpoint, BeforeValidator(_endpoint, json_schema_input_type=Url | Endpoint)]
"""A URL, or an `Endpoint` mapping."""


class Endpoints(Frozen):
    gateway: Url
    prometheus: AnEndpoint
    alertmanager: AnEndpoint
    registry: Url | None = None
    """Only for registry faults (``bad_version``, ``segment_regression``): the registry that
    ``adapters.registry`` names (an MLflow tracking server, or the reference registry)."""


class PagerDutyRest(Frozen):
    """PagerDuty's REST API v2: where mlchaos reads page and acknowledgement times (incidents
    of the service, their log entries) and acknowledges for `mlchaos ack`."""

    url: HttpsUrl = "https://api.pagerduty.com"
    token_env: EnvName
    """The environment variable holding a REST API token (``Authorization: Token token=...``);
    a read-only token reads, acknowledging needs a full one."""
    service_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,20}$")
    """The PagerDuty service's id (``PXXXXXX``); default: looked up by its name, ``service``."""
    from_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)
    """The user acknowledgements are made as (the ``From`` header PagerDuty requires)."""


class PagerDutyTarget(Frozen):
    url: HttpsUrl = "https://events.pagerduty.com"
    service: Name
    routing_key_env: str = Field(
        default="MLCHAOS_PAGERDUTY_ROUTING_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$"
    )
    routing_key_file: str | None = None
    """Instead of the environment: a file holding only the key, relative to the service file
    (a mounted secret); mlchaos reads it when it acknowledges and never copies it."""
    ca_file: str | None = None
    """A CA bundle to trust, relative to the service file; for a self-signed receiver."""
    rest: PagerDutyRest | None = None
    """With it, page and acknowledgement times come from PagerDuty's REST API (``adapters.pager``
    becomes ``rest``); without it, from a receiver's ``/incidents``."""


class HttpHook(Frozen):
    url: Url
    method: Literal["POST", "PUT", "PATCH"] = "POST"


class Hook(Frozen):
    """A step the team runs (a rollback, a deploy), in exactly one way: an HTTP call, or a
    command (an argument list, run without a shell, from the service file's folder)."""

    http: HttpHook | None = None
    command: tuple[str, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Hook:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of 'http' or 'command'")
        return self


class ControllerRef(Frozen):
    """A rollout, by the Kubernetes namespace and name its controller labels its metrics with."""

    namespace: Name
    name: Name


class ReportedBy(Frozen):
    """The controller whose own account of the rollout mlchaos reports beside what was served
    (read from Prometheus, never judged): Argo Rollouts or Flagger."""

    argo_rollouts: ControllerRef | None = None
    """``rollout_info`` and ``analysis_run_info`` of this Rollout."""
    flagger: ControllerRef | None = None
    """``flagger_canary_status`` and ``flagger_canary_weight`` of this Canary."""

    @model_validator(mode="after")
    def _one(self) -> ReportedBy:
        if (self.argo_rollouts is None) == (self.flagger is None):
            raise ValueError("give exactly one of 'argo_rollouts' or 'flagger'")
        return self


class Rollout(Frozen):
    """The team's progressive rollout (a canary controller, Argo Rollouts, Flagger): how a
    canary experiment hands it a version. mlchaos points ``alias`` at the version, runs
    ``start``, then only watches what is served: it never moves a weight."""

    alias: VersionName = "candidate"
    """With an MLflow registry: the alias the rollout rolls out."""
    start: Hook
    """Starts the rollout of what ``alias`` names, and returns (the rollout runs on)."""
    abort: Hook | None = None
    """Aborts the rollout under way, and returns once it has stopped moving anything (a deploy
    under way finished); a revert runs it first, then puts the aliases back. Without it, the
    rollout must abort by itself when ``alias`` goes back."""
    reported_by: ReportedBy | None = None
    """Where the rollout controller's own account is read, to be shown beside the answers."""


class FeastLayout(Frozen):
    """How Feast lays out its online store in this Redis: its project, and the features of
    each feature view (a ``stale`` fault removes one view's, as an eviction would)."""

    project: Name
    views: dict[Name, tuple[Name, ...]] = Field(min_length=1)


class DependencySecret(Frozen):
    """Where the team keeps a consumer's credential for a dependency, and the team's step
    that makes consumers take it up again (for ``secret_rotation``)."""

    file: str = Field(min_length=1)
    """The team's secret store for it, a file (a mounted secret): relative to the service
    file. A rotation writes the new password into it; the revert puts the old one back."""
    propagate: Hook
    """The team's secret-propagation step (a reload, a rolling restart): what makes the
    consumer read the file again. The team runs it to mitigate; mlchaos runs it after its
    revert, so that the consumer is back on the old credential."""


class Dependency(Frozen):
    """Something the model server needs to answer (a feature store's online store), and how
    mlchaos reaches it to break it: as its own user, never as the model server's."""

    kind: Literal["redis"]
    url: str = Field(pattern=r"^rediss?://[^/@\s]+(/\d+)?$", max_length=500)
    """``redis://HOST:PORT/DB`` (``rediss://`` for TLS); no credentials in it."""
    username: str | None = Field(default=None, min_length=1, max_length=200)
    """The ACL user mlchaos acts as: it needs ``CLIENT PAUSE``, and for ``stale`` to read
    and write the feature store's keys."""
    password_env: EnvName | None = None
    password_file: str | None = Field(default=None, min_length=1)
    """Relative to the service file; mode 0600 is expected."""
    ca_file: str | None = Field(default=None, min_length=1)
    feast: FeastLayout | None = None
    secrets: dict[str, DependencySecret] = Field(default_factory=dict)
    """Consumers' credentials, by their user at the dependency (``secret_rotation``)."""

    @model_validator(mode="after")
    def _one_password(self) -> Dependency:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give 'password_env' or 'password_file', not both")
        return self


class ServiceProcess(Frozen):
    """A process of the service on this machine (the model server), for ``process`` faults:
    found by its command line, as ``pgrep -f`` finds it."""

    match: str = Field(min_length=1, max_length=500)
    """A regular expression over the command line (arguments joined by spaces) that matches
    the server's main process, and none of another server's."""
    ready: str | None = Field(default=None, pattern=r"^https?://", max_length=500)
    """A URL that answers 2xx while it serves (MLServer: ``/v2/health/ready``): the revert
    of a kill waits for it."""
    restart: Hook | None = None
    """What mlchaos runs when nothing restarted a killed server within a minute, so that
    staging is never left without it (recorded as mlchaos's restart, never the team's)."""

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class PrivacySink(Frozen):
    """A place where the service's data lands, searched for ``pii_canary`` markers: files
    (log files, an inference log, feature snapshots: globs, relative to the service file) or
    every label value of the team's Prometheus."""

    files: tuple[Annotated[str, Field(min_length=1, max_length=1000)], ...] = Field(
        default=(), max_length=50
    )
    """Glob patterns (``logs/*.log``, ``**`` spans folders); each must match a file when the
    canaries are searched for, else the search could not look where the service file says."""
    prometheus: Literal["label_values"] | None = None
    """``label_values``: every value of every label Prometheus stored while the canaries ran
    (a request id or an email turned into a label is a leak, and a cardinality bomb)."""

    @model_validator(mode="after")
    def _one_kind(self) -> PrivacySink:
        if bool(self.files) == (self.prometheus is not None):
            raise ValueError("give exactly one of 'files' (glob patterns) or 'prometheus'")
        return self


class Privacy(Frozen):
    """Where the service's requests carry personal data, and where its data lands: what a
    ``pii_canary`` fault fills with fake, marked values, and where it then searches."""

    fields: dict[Annotated[str, Field(min_length=1, max_length=200,
                                      pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")],
                 PiiKind] = Field(min_length=1, max_length=20)  # fmt: skip
    """A dotted path into the request body (``parameters.email`` for an Open Inference Protocol
    request's parameters) -> the kind of personal data it carries."""
    sinks: dict[Name, PrivacySink] = Field(min_length=1, max_length=50)
    """Where the service's data lands, by a name the results use. The canaries' own answers
    are always searched too."""


class ApprovalTags(Frozen):
    """How the team's approval gate writes its decision on a model version: MLflow version
    tags, a decision and a reason."""

    decision: str = Field(default="approval.decision", min_length=1, max_length=250)
    """The version tag that holds the gate's decision."""
    reason: str = Field(default="approval.reason", min_length=1, max_length=250)
    """The version tag that says why (shown in the results, never judged)."""
    approved: str = Field(default="approved", min_length=1, max_length=100)
    rejected: str = Field(default="rejected", min_length=1, max_length=100)


class Training(Frozen):
    """The team's retrain pipeline, for ``poisoned_data`` faults: the training snapshot it
    reads, the step that runs it, and how its approval gate writes its decision. The pipeline
    registers what it trains in the service's MLflow registry (``endpoints.registry``)."""

    snapshot: str = Field(min_length=1, max_length=1000)
    """The training data the pipeline reads, a CSV file with a header (relative to the service
    file): what a poisoned_data fault changes, and its lease puts back."""
    label: FeatureName
    """The snapshot's label column: two values (fraud or not), which a fault flips."""
    retrain: Hook
    """The team's retrain trigger: runs the pipeline (train, register, the gate's decision).
    mlchaos runs it once the snapshot is poisoned, as the team's schedule would."""
    retrain_timeout: Duration = Field(default=600.0, gt=0, le=7200)
    """The longest a ``command`` retrain may run; mlchaos waits for it to end before it puts
    the snapshot back, so that no pipeline reads half of each."""
    approval: ApprovalTags = ApprovalTags()


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


Band = tuple[float, float]
VersionName = Annotated[str, Field(min_length=1, max_length=200)]


class Segments(Frozen):
    """How traffic splits into segments by one feature's value, for data_drift's ``mix``, and
    the team's figure per segment whose gap every experiment reports."""

    feature: FeatureName
    bands: dict[Name, Band] = Field(min_length=2)
    score: str | None = Field(default=None, min_length=1)
    """PromQL giving one series per segment of the figure the team holds equal across
    segments (an approval rate, a mean score against the segment's reference, an accuracy).
    The fairness gap is the largest minus the smallest, reported per experiment, never
    judged: an experiment's SLOs and alerts are."""

    @model_validator(mode="after")
    def _ordered(self) -> Segments:
        for name, (low, high) in self.bands.items():
            if not low <= high:
                raise ValueError(f"band {name!r} must run from low to high, not {low}..{high}")
        return self


class Versions(Frozen):
    """The registry versions registry faults promote: broken builds, by the name experiments
    use, and versions worse on one segment only."""

    alias: VersionName = "champion"
    """With an MLflow registry: the alias that says which version serves."""
    bad: dict[Name, VersionName] = Field(default_factory=dict)
    segment: dict[Name, VersionName] = Field(default_factory=dict)
    fallback: Annotated[
        tuple[VersionName, ...],
        BeforeValidator(_one_or_many, json_schema_input_type=VersionName | list[VersionName]),
    ] = ()
    """The version the fallback's answers carry (``x-model-version``, or an OIP answer's
    ``model_version``): how a mitigation by fallback is read from what is served."""


class Payload(Frozen):
    """What the load sends, relative to the service file: a dataset (``file``: JSON lines of
    ``{"features": {...}, "label": 0}``, CSV or Parquet, by extension) encoded in
    ``protocol``, or ready request bodies (``bodies``: JSON lines, sent as they are)."""

    file: str | None = Field(default=None, min_length=1)
    bodies: str | None = Field(default=None, min_length=1)
    protocol: Protocol = "oip-v2-columns"
    features: tuple[FeatureName, ...] = ()
    """The model's features in order (positions of a tensor or an instance); default: the
    dataset's columns, the label aside."""
    tensor: str = Field(default="input-0", min_length=1, max_length=200)
    """The single tensor's name, for ``oip-v2-tensor``."""
    paths: dict[FeatureName, str] = Field(default_factory=dict)
    """Where each feature sits in a ``json`` body (``applicant.age``); default: its name."""
    datatypes: dict[FeatureName, Datatype] = Field(default_factory=dict)
    """Each feature's Open Inference Protocol datatype, where the dataset's own values would
    say otherwise (a zip code read as a number: ``BYTES``, kept as written). Default: ``BYTES``
    for a feature with any text value in the dataset (``plan: basic``), ``FP64`` otherwise.
    For ``oip-v2-tensor``, the tensor's name may be given its one datatype."""
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    """The ``parameters`` of every OIP request: ``{content_type: pd}`` has MLServer decode it
    into a pandas DataFrame, one column per feature."""
    label: str | None = Field(default="label", min_length=1)
    """The dataset's column with the true outcome; None: there is none."""
    infer_path: str | None = Field(default=None, pattern=r"^/")
    """Where requests go (``{model}`` is filled in); default by protocol:
    ``/v2/models/{model}/infer`` for OIP v2, ``/v1/models/{model}:predict`` for KServe v1.
    A ``json`` API must name its own."""
    labels_path: str | None = Field(default=None, pattern=r"^/")
    """Where the true outcomes are posted, later, as ``{"labels": [{"id", "label"}]}``
    (``{model}`` is filled in); None: never. Concept drift needs them."""

    @model_validator(mode="after")
    def _one_source(self) -> Payload:
        if (self.file is None) == (self.bodies is None):
            raise ValueError("give exactly one of 'file' (a dataset) or 'bodies' (requests)")
        if self.protocol == "json" and self.infer_path is None:
            raise ValueError("a json protocol needs 'infer_path': where its requests go")
        return self

    def inference_path(self, model: str) -> str:
        default = "/v1/models/{model}:predict" if self.protocol == "kserve-v1" else None
        path = self.infer_path or default or "/v2/models/{model}/infer"
        return path.replace("{model}", model)

    def codec(self) -> Codec:
        return Codec(
            self.protocol, self.features, self.tensor, dict(self.paths), dict(self.datatypes),
            dict(self.parameters),
        )  # fmt: skip


Interval = Annotated[Duration, Field(ge=0, le=86400)]


class Pipeline(Frozen):
    """The monitoring pipeline's intervals, declared for a Prometheus that does not serve its
    configuration (managed services). mlchaos reads the live ones when it can, and uses these
    only when it cannot, saying so in results."""

    scrape_interval: Interval
    evaluation_interval: Interval
    group_wait: Interval | None = None
    """Alertmanager's ``group_wait`` on the paging route; default: read from Alertmanager."""


class Adapters(Frozen):
    """Which implementation talks to each outside system (`mlchaos.observe.adapters`)."""

    metrics: Literal["prometheus"] = "prometheus"
    pager: Literal["receiver", "rest"] = "receiver"
    """``receiver``: incidents read from an Events API receiver's ``/incidents``; ``rest``:
    from PagerDuty's REST API v2 (the default when ``pagerduty.rest`` is given)."""
    registry: Literal["mlchaos", "mlflow"] = "mlchaos"
    """``mlflow``: an MLflow model registry, whose alias (``versions.alias``) a bad version
    moves; ``mlchaos``: the registry HTTP API the reference stack serves."""
    traffic: Literal["gateway"] = "gateway"
    """Where traffic faults go: ``gateway``, the chaos gateway in front of the model."""
    load: Literal["locust"] = "locust"


PRODUCTION = ("production", "prod")
"""Environments mlchaos refuses to inject into without ``--allow-production``."""


class ServiceFile(Frozen):
    version: Literal[1] = 1
    name: Name
    model: Name
    environment: Name = "staging"
    """Where this service runs. mlchaos refuses a service declared ``production`` (or
    ``prod``) unless the run says ``--allow-production``: game days inject real faults."""
    endpoints: Endpoints
    pagerduty: PagerDutyTarget | None = None
    """Where the service pages; leave it out for a team without a pager (then no experiment
    may expect paging or acknowledgement)."""
    traffic_query: str = Field(min_length=1)
    rollback: Hook | None = None
    fallback: Hook | None = None
    """The team's switch to its fallback (what a runbook's ``action: fallback`` runs)."""
    deploy: Hook | None = None
    """The team's deploy step: makes the model server load what the registry's alias names
    (``versions.alias``). mlchaos runs it after it moves the alias, and after it moves it
    back; without it, the server must follow the alias by itself."""
    rollout: Rollout | None = None
    """The team's progressive rollout, for canary experiments (``bad_version`` with
    ``rollout: canary``, and ``good_version``)."""
    production_version: str | None = Field(default=None, min_length=1, max_length=200)
    """The version production should serve before a game day; a game day on another one
    cannot pass (it would measure the wrong service)."""
    payload: Payload | None = None
    segments: Segments | None = None
    versions: Versions = Versions()
    adapters: Adapters = Adapters()
    stop_conditions: tuple[Slo, ...] = ()
    """Guards for every experiment on this service (see ``Experiment.stop_when``)."""
    pipeline: Pipeline | None = None
    slos: tuple[SloSpec, ...] = ()
    """Service level objectives and their burn-rate alerting (`mlchaos.schema.slo`):
    `mlchaos rules --service` writes their recording rules and alerts."""
    dependencies: dict[Name, Dependency] = Field(default_factory=dict)
    """What the model server depends on, by the name ``dependency`` faults give it."""
    processes: dict[Name, ServiceProcess] = Field(default_factory=dict)
    """The service's processes on this machine, by the name ``process`` faults give them."""
    privacy: Privacy | None = None
    """Where requests carry personal data and where data lands, for ``pii_canary`` faults."""
    training: Training | None = None
    """The team's retrain pipeline and its approval gate, for ``poisoned_data`` faults."""

    @model_validator(mode="after")
    def _rest_named(self) -> ServiceFile:
        if self.adapters.pager == "rest" and (
            self.pagerduty is None or self.pagerduty.rest is None
        ):
            raise ValueError("adapters.pager is rest: set pagerduty.rest (url, token_env)")
        return self

    @model_validator(mode="after")
    def _registry_named(self) -> ServiceFile:
        if self.adapters.registry == "mlflow" and self.endpoints.registry is None:
            raise ValueError("adapters.registry is mlflow: set endpoints.registry to its URL")
        return self
