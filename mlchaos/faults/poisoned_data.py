"""``poisoned_data``: chaos for the model approval workflow. The training snapshot the team's
retrain pipeline reads (the service file's ``training.snapshot``) gets a share of its labels
flipped, in one segment or everywhere (`mlchaos.faults.targets.training`); then the
experiment runs the team's retrain step and watches what its approval gate decides
(`mlchaos.ctk.probes.await_approval`): every version trained on the poison must be rejected
in time, and none served.

It is live once the snapshot holds the poison: the file the pipeline reads, read back.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.faults.targets import training as target
from mlchaos.journal import EventRecord, FaultActive, Journal
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.schema.experiment import PoisonedDataFault
from mlchaos.service import Service
from mlchaos.vocabulary import Event

__all__ = ["FAULT", "PoisonedDataKind"]


class PoisonedDataKind:
    type = "poisoned_data"
    TARGET = target.TARGET

    def misfits(self, service: Service, fault: PoisonedDataFault) -> list[tuple[str, str]]:
        if service.training is None:
            why = ("the service file has no 'training' section: the snapshot the team's "
                   "pipeline trains on, its label, its retrain step")
            return [("type", why)]
        if service.adapters.registry != "mlflow":
            return [("type", "the retrain's versions and the gate's decisions are read from "
                             "MLflow: set adapters.registry: mlflow")]  # fmt: skip
        if fault.where and service.training.label in fault.where:
            return [("where", f"{service.training.label} is the label: use of_label to choose "
                              "rows by it")]  # fmt: skip
        return []

    def ready(self, service: Service, fault: PoisonedDataFault) -> str:
        training = target.training_of(service)
        snapshot = target.snapshot_path(training, service.hook_dir)
        poisoned = target.poison(target.read_snapshot(snapshot), training.label, fault)
        writable = os.access(snapshot, os.W_OK) and os.access(snapshot.parent, os.W_OK)
        try:
            champion = MlflowAliases(str(service.registry_url)).named(
                service.model, service.versions.alias)
        except MlchaosError as exc:
            raise TargetError(f"the registry: {exc}") from None
        if not writable:
            raise TargetError(f"cannot write {snapshot} and beside it: the lease holds its "
                              "bytes there")  # fmt: skip
        return (f"{snapshot.name}: {poisoned.rows} rows; {poisoned.flipped} of the "
                f"{poisoned.chosen} chosen would flip their {training.label}; then the retrain "
                f"step would run, and {service.model}@{service.versions.alias} names "
                f"{champion} now")  # fmt: skip

    def inject(self, journal: Journal, service: Service, fault: PoisonedDataFault) -> str:
        return target.inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: PoisonedDataFault) -> bool:
        """Live once the snapshot the pipeline reads holds the poison, read back."""
        training = target.training_of(service)
        snapshot = target.snapshot_path(training, service.hook_dir)
        detail = _injected_detail(journal)
        lease = target.last_lease(journal)
        now = hashlib.sha256(snapshot.read_bytes()).hexdigest() if snapshot.exists() else ""
        if lease is None or now != lease.get("poisoned_sha256"):
            journal.write(FaultActive(active=False, evidence=(
                f"{snapshot.name} does not hold the poisoned labels: it was rewritten, or "
                "never poisoned")))  # fmt: skip
            return False
        journal.write(FaultActive(active=True, evidence=(
            f"{snapshot.name} holds {detail.get('flipped')} flipped {training.label} label(s) "
            f"of {detail.get('rows')} rows, read back from the file the pipeline reads")))
        return True

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return target.end_lease(journal, intent, lease_id)


def _injected_detail(journal: Journal) -> dict[str, Any]:
    found = [r for r in journal.of(EventRecord) if r.event is Event.INJECTED]
    return dict(found[-1].detail) if found else {}


FAULT = PoisonedDataKind()
