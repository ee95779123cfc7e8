"""A poisoned training snapshot (``poisoned_data``), under a lease that ends without mlchaos:
its keeper at the TTL, the runner's revert, or `mlchaos recover`.

- The poison: a share of the snapshot's labels flip to the other value, in the rows the fault
  chooses (one label, one segment), seeded, so the same seed poisons the same rows.
- What is held: the snapshot's own bytes, beside it with its mode
  (``.NAME.mlchaos-held-LEASE``: the same filesystem, so putting it back is one rename).
- The end puts the snapshot back if it still holds the poison; a snapshot the team's pipeline
  wrote again meanwhile is kept (newer data is never overwritten with older). Then every
  version registered while the lease held is tagged ``mlchaos.poisoned`` for the team's audit,
  and if the registry's alias names one of them (a gate that let the poison through, and a
  pipeline that promoted it), the alias goes back to what it named before the fault and the
  team's deploy step runs: staging never keeps serving a model trained on the poison.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.faults.keeper import Held, end_held_lease, write_and_keep
from mlchaos.faults.leases import ACTOR, last_intent, record_granted, record_injected, record_intent
from mlchaos.faults.targets.files import held_copy, write_atomically
from mlchaos.hooks import run_hook
from mlchaos.journal import Journal
from mlchaos.observe.approval import retrains_ended
from mlchaos.observe.mlflow import MlflowAliases
from mlchaos.schema.experiment import PoisonedDataFault
from mlchaos.schema.service import Hook, Training
from mlchaos.service import Service

__all__ = [
    "MAX_BYTES",
    "POISONED_TAG",
    "TARGET",
    "Poison",
    "end_lease",
    "inject",
    "last_lease",
    "poison",
    "read_snapshot",
    "snapshot_path",
    "training_of",
    "undo",
]

TARGET = "training"
POISONED_TAG = "mlchaos.poisoned"
"""The version tag the end of a lease puts on each version registered while it held: trained,
perhaps, on the poison (the lease id)."""
MAX_BYTES = 2_000_000_000
"""The largest snapshot read: it is read whole, and held whole beside itself."""


class Poison:
    """What poisoning a snapshot's text did: its new text, and how many rows changed."""

    def __init__(self, text: str, rows: int, chosen: int, flipped: int,
                 labels: tuple[str, str]) -> None:  # fmt: skip
        self.text, self.rows, self.chosen, self.flipped, self.labels = (
            text, rows, chosen, flipped, labels)  # fmt: skip

    def detail(self) -> dict[str, Any]:
        return {"rows": self.rows, "chosen": self.chosen, "flipped": self.flipped,
                "labels": list(self.labels),
                "share_of_labels_changed": round(self.flipped / self.rows, 4) if self.rows else 0}


def snapshot_path(training: Training, base: Path | None) -> Path:
    return (base / training.snapshot) if base else Path(training.snapshot)


def poison(text: str, label: str, fault: PoisonedDataFault) -> Poison:
    """``text`` (a CSV snapshot with a header) with ``fault.flip_labels`` of the chosen rows'
    labels flipped; `TargetError` naming the column when the snapshot cannot take it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise TargetError("the training snapshot is empty: no header") from None
    except csv.Error as exc:
        raise TargetError(f"the training snapshot is not CSV: {exc}") from None
    columns = {name: i for i, name in enumerate(header)}
    missing = [c for c in (label, *fault.where) if c not in columns]
    if missing:
        raise TargetError(f"the training snapshot has no column {missing[0]!r} (it has "
                          f"{', '.join(header[:12])})")  # fmt: skip
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise TargetError(f"the training snapshot is not CSV: {exc}") from None
    at = columns[label]
    values = sorted({r[at] for r in rows if len(r) > at}, key=_order)
    if len(values) != 2:
        raise TargetError(f"its label {label!r} has {len(values)} value(s), not 2: flip_labels "
                          "needs a binary label")  # fmt: skip
    if fault.of_label is not None and not any(_same(v, fault.of_label) for v in values):
        raise TargetError(f"of_label {fault.of_label!r} is not a value of {label!r} "
                          f"({values[0]}, {values[1]})")  # fmt: skip
    where = [(columns[c], v) for c, v in fault.where.items()]
    chosen = [
        i for i, r in enumerate(rows)
        if len(r) == len(header)
        and (fault.of_label is None or _same(r[at], fault.of_label))
        and all(_same(r[c], v) for c, v in where)
    ]  # fmt: skip
    if not chosen:
        raise TargetError("no row of the training snapshot matches the fault's of_label and "
                          "where: nothing would be poisoned")  # fmt: skip
    rng = random.Random(fault.seed)
    flipped = 0
    for i in chosen:
        if rng.random() < fault.flip_labels:
            rows[i][at] = values[1] if rows[i][at] == values[0] else values[0]
            flipped += 1
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=_line_end(text))
    writer.writerow(header)
    writer.writerows(rows)
    return Poison(out.getvalue(), len(rows), len(chosen), flipped, (values[0], values[1]))


def read_snapshot(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise TargetError(f"the training snapshot {path} is over {MAX_BYTES // 10**9} GB")
        with path.open(encoding="utf-8", newline="") as text:
            return text.read()
    except OSError as exc:
        raise TargetError(f"cannot read the training snapshot {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TargetError(f"the training snapshot {path} is not UTF-8 text (CSV)") from None


def inject(journal: Journal, service: Service, fault: PoisonedDataFault) -> str:
    """Take the lease, start its keeper, then write the poisoned snapshot; the lease id."""
    training = training_of(service)
    snapshot = snapshot_path(training, service.hook_dir).resolve()
    original = read_snapshot(snapshot)
    poisoned = poison(original, training.label, fault)
    aliases = MlflowAliases(str(service.registry_url))
    alias = service.versions.alias
    lease_id = uuid.uuid4().hex[:12]
    lease_file = journal.path.parent / "leases" / f"{lease_id}.json"
    expires_at = time.time() + fault.ttl
    lease: dict[str, Any] = {
        "id": lease_id, "snapshot": str(snapshot), "expires_at": expires_at,
        "poisoned_sha256": _sha(poisoned.text.encode()),
        "url": service.registry_url, "model": service.model, "alias": alias,
        "replaced": aliases.named(service.model, alias), "since_ms": int(time.time() * 1000),
        "deploy": service.deploy_hook.model_dump(mode="json") if service.deploy_hook else None,
        "hook_dir": str(service.hook_dir) if service.hook_dir else None,
        "retrain_timeout_s": training.retrain_timeout,
    }  # fmt: skip
    intent = record_intent(
        journal, TARGET, undo=f"put {snapshot.name} back (the held copy beside it), and "
        f"{alias} back to {lease['replaced']} if a version trained on the poison took it",
        lease_file=str(lease_file), snapshot=str(snapshot), ttl_s=fault.ttl,
    )  # fmt: skip
    write_and_keep(lease_file, lease, "mlchaos.faults.training_keeper", _HELD_FILES)
    record_granted(journal, intent, lease_id, datetime.fromtimestamp(expires_at, UTC).isoformat())
    mode = snapshot.stat().st_mode & 0o777
    kept = held_copy(snapshot, lease_id)
    try:
        if not kept.exists():
            write_atomically(kept, original.encode(), mode)
        write_atomically(snapshot, poisoned.text.encode(), mode)
    except OSError as exc:
        raise TargetError(f"cannot write beside the training snapshot {snapshot}: "
                          f"{exc.strerror}") from None  # fmt: skip
    detail = {"snapshot": snapshot.name, "label": training.label, **poisoned.detail()}
    record_injected(journal, datetime.now(UTC).isoformat(),
                    f"training snapshot {snapshot.name} rewritten with flipped labels", detail)
    return lease_id


def last_lease(journal: Journal) -> dict[str, Any] | None:
    """The newest lease this journal took on a snapshot, as its lease file holds it."""
    intent = last_intent(journal, TARGET)
    if intent is None:
        return None
    try:
        return dict(json.loads(Path(intent["lease_file"]).read_text()))
    except (OSError, ValueError):
        return None


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    """End the lease now, unless its keeper (or another run) already did: then what it did."""
    return end_held_lease(Path(intent["lease_file"]), _HELD_FILES, undo, ACTOR, lease_id,
                          "no lease file: nothing was poisoned, or it was put right")


def undo(lease: dict[str, Any], held: Held | None, actor: str, action: str) -> dict[str, Any]:
    """Put the snapshot back, tag what was trained meanwhile, and take the alias back from a
    poisoned version (call under the lease file's lock); every step can run twice. Raises if
    a step fails (the keeper tries again)."""
    entry: dict[str, Any] = {"action": action, "actor": actor, "lease_id": lease["id"]}
    if held is not None:
        held.mark_done(lease, {**entry, "at": datetime.now(UTC).isoformat(), "pending": True})
    said = []
    if not retrains_ended(float(lease.get("retrain_timeout_s", 0))):
        said.append("the retrain step mlchaos ran was still running after its timeout")
    said.append(_put_snapshot_back(lease))
    said += _untrust_versions(lease)
    entry.update(reason="; ".join(said), at=datetime.now(UTC).isoformat(),
                 source=f"training: the snapshot's held copy ({action})")  # fmt: skip
    if held is not None:
        held.mark_done(lease, entry)
    return entry


def _put_snapshot_back(lease: dict[str, Any]) -> str:
    snapshot = Path(lease["snapshot"])
    kept = held_copy(snapshot, lease["id"])
    if not kept.exists():
        return f"{snapshot.name} already put back"
    now = snapshot.read_bytes() if snapshot.exists() else b""
    if snapshot.exists() and _sha(now) != lease["poisoned_sha256"]:
        kept.unlink()
        return (f"{snapshot.name} was written again since the poison (by the team's pipeline): "
                "kept, and the held copy dropped")  # fmt: skip
    os.replace(kept, snapshot)
    return f"{snapshot.name} put back as it was"


def _untrust_versions(lease: dict[str, Any]) -> list[str]:
    aliases = MlflowAliases(lease["url"])
    model, alias, before = lease["model"], lease["alias"], lease["replaced"]
    made = [str(v["version"]) for v in aliases.versions_since(model, int(lease["since_ms"]))]
    for version in made:
        if aliases.version_tags(model, version).get(POISONED_TAG) != lease["id"]:
            aliases.set_version_tag(model, version, POISONED_TAG, lease["id"])
    said = [f"version(s) {', '.join(made)} tagged {POISONED_TAG}"] if made else []
    named = aliases.named(model, alias)
    if named in made:
        aliases.put_back(model, alias, before)
        if lease.get("deploy"):
            cwd = Path(lease["hook_dir"]) if lease.get("hook_dir") else None
            run_hook(Hook.model_validate(lease["deploy"]), "the deploy step", cwd)
        said.append(f"{model}@{alias} named {named}, trained on the poison: put back to {before}"
                    f"{', and deployed' if lease.get('deploy') else ''}")  # fmt: skip
    return said


def training_of(service: Service) -> Training:
    if service.training is None:
        raise TargetError("the service file has no 'training' section")
    if not service.registry_url:
        raise TargetError("the service file names no registry (endpoints.registry)")
    return service.training


def _same(cell: str, value: str) -> bool:
    if cell == value:
        return True
    try:
        return float(cell) == float(value)
    except ValueError:
        return False


def _order(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _line_end(text: str) -> str:
    return "\r\n" if "\r\n" in text[:10_000] else "\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_HELD_FILES: dict[str, Held] = {}
"""Lease files this process holds open since it injected them (`mlchaos.faults.keeper.Held`)."""
