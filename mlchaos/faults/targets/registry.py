"""Faults that promote a version in the model registry, under a lease the registry ends
(with an MLflow registry, the lease keeper ends it: `mlchaos.faults.targets.mlflow`). The fault
is in from the first answer the promoted version gives at the gateway.

The undo is recorded in the journal before the promotion, and the registry reverts the
promotion by itself when the lease's TTL runs out, so a `kill -9` of the runner cannot leave
the bad version serving. Which version a fault promotes is the fault type's business
(`mlchaos.faults.bad_version`, `mlchaos.faults.segment_regression`); the lease is here, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from mlchaos.errors import TargetError
from mlchaos.faults.confirm import first_answer, poll
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.faults.targets import mlflow
from mlchaos.hooks import run_hook
from mlchaos.journal import Journal, parse_time
from mlchaos.observe import adapters
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.observe.model import ModelEndpoint
from mlchaos.observe.registry import RegistryClient
from mlchaos.schema.experiment import BadVersionFault, GoodVersionFault, SegmentRegressionFault
from mlchaos.schema.service import Hook
from mlchaos.service import Service

__all__ = ["CONFIRM_S", "GRANTS", "TARGET", "RegistryFault", "end_lease", "lookup"]

TARGET = "registry"
GRANTS = ("promote", "canary_start")
"""The audit actions that take a lease; any other naming the lease ended it."""
CONFIRM_S = 10.0
"""How long a promoted version has to start answering: a deploy step may reload the model."""
F = TypeVar("F", BadVersionFault, SegmentRegressionFault, GoodVersionFault)


def lookup(fault_type: str, kind: str, name: str, known: dict[str, str]) -> str:
    """The version the service file's ``versions.<kind>`` gives ``name``."""
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise TargetError(f"the service file's versions.{kind} names no {name!r} (it has {listed})")
    return known[name]


@dataclass(frozen=True)
class RegistryFault(Generic[F]):
    """A fault type that promotes a registry version: its name, and the version it promotes."""

    type: str
    version_of: Callable[[F, Service], str]
    field: str
    """The fault's field that names the version (``variant``, ``segment``)."""
    TARGET = TARGET

    def misfits(self, service: Service, fault: F) -> list[tuple[str, str]]:
        try:
            self.version_of(fault, service)
        except TargetError as exc:
            return [(self.field, str(exc))]
        if _canary(fault) and service.rollout is None:
            return [("rollout", "a canary needs the service file's rollout: (start, abort)")]
        return []

    def ready(self, service: Service, fault: F) -> str:
        """The registry holds the version the fault would promote, and names what serves."""
        version, model = self.version_of(fault, service), fault.model or service.model
        if service.registry_url is None:
            raise TargetError("the service file names no registry (endpoints.registry)")
        if service.adapters.registry == "mlflow":
            if not MlflowAliases(service.registry_url).has_version(model, version):
                raise TargetError(f"MLflow has no version {version} of {model}")
            if _canary(fault) and service.rollout is not None:
                production = adapters.registry(service).model(model).get("production")
                return (f"the rollout would get {model} {version} as its candidate "
                        f"({service.rollout.alias}), over {production}")  # fmt: skip
        else:
            known = adapters.registry(service).model(model).get("versions") or []
            if version not in known:
                listed = ", ".join(map(str, known)) or "none"
                raise TargetError(f"the registry has no {version!r} of {model} (it has {listed})")
        production = adapters.registry(service).model(model).get("production")
        if _canary(fault):
            return f"the registry would roll {model} {version} out as a canary beside {production}"
        return f"the registry would promote {model} {version} over {production}"

    def inject(self, journal: Journal, service: Service, fault: F) -> str:
        """Promote the fault's version; return the lease id."""
        version, model = self.version_of(fault, service), fault.model or service.model
        if service.registry_url is None:
            raise TargetError(f"{self.type} needs a registry: set endpoints.registry")
        if service.adapters.registry == "mlflow" and _canary(fault):
            return mlflow.inject_candidate(journal, service, self.type, model, version, fault.ttl)
        if service.adapters.registry == "mlflow":
            return mlflow.inject(journal, service, self.type, model, version, fault.ttl)
        if _canary(fault):
            return _inject_canary(journal, service, self.type, model, version, fault.ttl)
        intent = record_intent(
            journal,
            TARGET,
            undo=f"roll {model} back from {version} if it is still production",
            url=service.registry_url,
            kind=service.adapters.registry,
            model=model,
            version=version,
            ttl_s=fault.ttl,
        )
        registry = adapters.registry(service)
        answer = registry.promote(model, version, ACTOR, f"chaos: {self.type}", fault.ttl)
        audit, lease = answer["audit"], answer["lease"]
        record_granted(journal, intent, lease["id"], lease["expires_at"])
        promoted = parse_time(audit["at"])
        answered = first_answer(service, version, promoted.timestamp())
        detail = {"model": model, "version": version, "replaced": audit["from_version"],
                  "promoted_at": audit["at"]}  # fmt: skip
        at = datetime.fromtimestamp(answered, UTC).isoformat()
        record_injected(journal, at, f"gateway answers (the first by version {version})", detail)
        return str(lease["id"])

    def confirm(self, journal: Journal, service: Service, fault: F) -> bool:
        """Live once a real inference, sent the way clients send it, is answered by the
        version: the registry saying so is not enough if traffic goes elsewhere."""
        version, model = self.version_of(fault, service), fault.model or service.model
        if _canary(fault):
            return _candidate_answers(journal, service, version)
        body, seen = _probe(service), list[str | None]([None])

        def answered() -> str | None:
            seen[0] = _answering_version(service, model, body)
            return f"inferences are answered by {version}" if seen[0] == version else None

        return poll(
            journal,
            answered,
            CONFIRM_S,
            lambda: (
                f"inferences are still answered by {seen[0]!r} after {CONFIRM_S:g}s, not "
                f"{version!r}"
            ),
        )

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return end_lease(journal, intent, lease_id)


def _canary(fault: Any) -> bool:
    return getattr(fault, "rollout", None) == "canary"


def _inject_canary(
    journal: Journal, service: Service, fault_type: str, model: str, version: str, ttl_s: float
) -> str:
    """A canary on the registry's own rollout: the registry holds ``version`` as the canary at
    weight 0, under a lease it ends by itself (withdrawing the canary, and rolling back a
    promotion of it), then the team's rollout starts. mlchaos never moves a weight."""
    rollout = service.rollout
    if service.registry_url is None or rollout is None:
        raise TargetError(f"a canary {fault_type} needs endpoints.registry and a rollout:")
    registry = RegistryClient(service.registry_url)
    production = registry.model(model).get("production")
    if production == version:
        raise TargetError(f"{model} {version} already serves: a canary of it rolls nothing out")
    hook_dir = str(service.hook_dir) if service.hook_dir else None
    intent = record_intent(
        journal, TARGET,
        undo=(f"abort the rollout, withdraw the canary {version} of {model}, and roll back from "
              f"it if the rollout promoted it"),
        url=service.registry_url, kind=service.adapters.registry, model=model, version=version,
        ttl_s=ttl_s, canary=True, hook_dir=hook_dir,
        abort=rollout.abort.model_dump(mode="json") if rollout.abort else None,
    )  # fmt: skip
    started = time.time()
    answer = registry.canary(model, version, ACTOR, f"chaos: {fault_type}", ttl_s)
    lease = answer["lease"]
    record_granted(journal, intent, lease["id"], lease["expires_at"])
    run_hook(rollout.start, "the rollout's start step", service.hook_dir)
    answered = first_answer(service, version, started, timeout_s=mlflow.CANARY_FIRST_ANSWER_S)
    detail = {
        "model": model, "version": version, "replaced": production, "rollout": True,
        "rollout_started_at": datetime.fromtimestamp(started, UTC).isoformat(),
    }  # fmt: skip
    at = datetime.fromtimestamp(answered, UTC).isoformat()
    record_injected(journal, at, f"gateway answers (the first by candidate {version})", detail)
    return str(lease["id"])


def _candidate_answers(journal: Journal, service: Service, version: str) -> bool:
    """A canary is live once its candidate answers clients at all: at 1% a probe of our own
    would rarely reach it, and the rollout, not mlchaos, decides how many it gets."""
    gateway = adapters.traffic(service)
    injected = journal.event_time("injected")
    since = injected.timestamp() if injected else 0.0

    def answered() -> str | None:
        rows = gateway.versions(since - 1)
        by_it = sum(n for s, v, n in rows if v == version and s >= int(since))
        return f"candidate {version} answered {by_it} client request(s)" if by_it else None

    return poll(journal, answered, CONFIRM_S,
                lambda: f"candidate {version} gave no answer within {CONFIRM_S:g}s")  # fmt: skip


def _probe(service: Service) -> Any:
    """An inference request as clients send it: the payload's first."""
    if service.payload is None or service.payload_file is None:
        raise TargetError("confirming a promoted version needs the service file's payload")
    return ModelEndpoint.of(service).first_request()


def _answering_version(service: Service, model: str, body: Any) -> str | None:
    """The version that answered an inference (None when nothing answered)."""
    try:
        return ModelEndpoint.of(service).infer(body, timeout_s=2).version
    except TargetError:
        return None


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    """End the lease. A canary's runs the rollout's abort step first, so that nothing the
    rollout started still moves when the registry withdraws the canary."""
    registry = adapters.registry_at(intent["url"], intent.get("kind", "mlchaos"))
    model, version = intent["model"], intent["version"]
    if intent.get("canary") and intent.get("abort"):
        cwd = Path(intent["hook_dir"]) if intent.get("hook_dir") else None
        run_hook(Hook.model_validate(intent["abort"]), "the rollout's abort step", cwd)
    answer = registry.release(lease_id, ACTOR) if lease_id else None
    if answer is not None:
        return dict(answer["audit"])
    if intent.get("canary") and isinstance(registry, RegistryClient):
        registry.abort_canary(model, ACTOR, "revert", version)
    return _undo_without_lease(registry, model, version, lease_id)


def _undo_without_lease(
    registry: adapters.ModelRegistry, model: str, version: str, lease_id: str | None
) -> dict[str, Any]:
    """The registry no longer holds the lease: it expired, or was never granted."""
    expired = [
        e
        for e in registry.audit(model)
        if lease_id and e["lease_id"] == lease_id and e["action"] not in GRANTS
    ]
    if expired:
        return dict(expired[-1])
    undone = registry.rollback(model, ACTOR, "revert", from_version=version)["audit"]
    if undone:
        return dict(undone)
    production = registry.model(model)["production"]
    if production == version:
        raise TargetError(f"could not move {model} off {version}; roll it back by hand")
    return {
        "action": "already undone",
        "at": datetime.now(UTC).isoformat(),
        "actor": ACTOR,
        "reason": f"production is already {production}",
    }
