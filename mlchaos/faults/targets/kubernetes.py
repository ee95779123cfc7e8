"""``bad_version`` on Kubernetes: patch a Deployment's image or env; undo it with a real
rollout undo to the previous ReplicaSet revision, as `kubectl rollout undo` does.

chaostoolkit-kubernetes connects (kubeconfig, in-pod, or ``KUBERNETES_HOST``) but has no
rollout undo, so this module implements it with the kubernetes client: it finds the
Deployment's ReplicaSets by owner, takes the template of the wanted revision, drops its
``pod-template-hash`` label and replaces the Deployment's template with a JSON patch.

The lease's TTL is enforced in the cluster, not by mlchaos: injecting also creates a Job that
sleeps for the TTL and then undoes the rollout if the Deployment still carries this lease.
"""

from __future__ import annotations

import shlex
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.faults.confirm import poll
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.journal import Journal
from mlchaos.schema.experiment import BadVersionFault, KubernetesDeployment
from mlchaos.service import Service

__all__ = [
    "LEASE",
    "LEASE_EXPIRES",
    "REVISION",
    "TARGET",
    "apis",
    "bad_patch",
    "confirm",
    "end_lease",
    "inject",
    "revert_job",
    "rollout_undo",
]

TARGET = "kubernetes"
REVISION = "deployment.kubernetes.io/revision"
LEASE = "mlchaos.io/lease"
LEASE_EXPIRES = "mlchaos.io/lease-expires-at"


def apis() -> tuple[Any, Any]:
    """AppsV1Api and BatchV1Api, connected the way chaostoolkit-kubernetes connects."""
    from chaosk8s import create_k8s_api_client
    from kubernetes import client

    api = create_k8s_api_client()
    return client.AppsV1Api(api), client.BatchV1Api(api)


def inject(journal: Journal, service: Service, fault: BadVersionFault) -> str:
    k = _spec(fault)
    apps, batch = apis()
    deployment = _read(apps, k)
    revision = int((deployment.metadata.annotations or {}).get(REVISION, "0"))
    lease_id = uuid.uuid4().hex[:12]
    expires = datetime.now(UTC) + timedelta(seconds=fault.ttl)
    intent = record_intent(
        journal,
        TARGET,
        undo=f"kubectl -n {k.namespace} rollout undo deployment/{k.deployment}"
        f" --to-revision={revision}",
        deployment=k.deployment,
        namespace=k.namespace,
        revision=revision,
        lease=lease_id,
        ttl_s=fault.ttl,
    )
    patched = apps.patch_namespaced_deployment(
        k.deployment, k.namespace, bad_patch(k, lease_id, expires)
    )
    record_granted(journal, intent, lease_id, expires.isoformat())
    batch.create_namespaced_job(k.namespace, revert_job(k, lease_id, revision, fault.ttl))
    record_injected(
        journal,
        _updated_at(patched),
        "kubernetes deployment update",
        {"deployment": k.deployment, "from_revision": revision, "image": k.image, "env": k.env},
    )
    return lease_id


def confirm(
    journal: Journal, service: Service, fault: BadVersionFault, timeout_s: float = 120.0
) -> bool:
    """Live once the rollout of the bad template has finished."""
    k = _spec(fault)
    apps, _ = apis()

    def rolled_out() -> str | None:
        d = _read(apps, k)
        status = d.status
        done = (status.observed_generation or 0) >= (d.metadata.generation or 0) and (
            (status.updated_replicas or 0) >= (d.spec.replicas or 0)
        )
        if done and _carries(d, k):
            return f"deployment/{k.deployment} rolled out the bad template"
        return None

    missing = f"deployment/{k.deployment} did not finish rolling out in {timeout_s:g}s"
    return poll(journal, rolled_out, timeout_s, lambda: missing, interval_s=1.0)


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    apps, batch = apis()
    name, namespace = intent["deployment"], intent["namespace"]
    try:
        batch.delete_namespaced_job(
            f"mlchaos-revert-{intent['lease']}", namespace, propagation_policy="Background"
        )
    except ApiException as exc:
        if exc.status != 404:
            raise TargetError(f"could not delete the revert Job: {exc.reason}") from exc
    deployment = apps.read_namespaced_deployment(name, namespace)
    template_annotations = deployment.spec.template.metadata.annotations or {}
    if template_annotations.get(LEASE) != intent["lease"]:
        return {
            "action": "already undone",
            "at": datetime.now(UTC).isoformat(),
            "actor": ACTOR,
            "reason": f"deployment/{name} no longer runs lease {intent['lease']}",
        }
    return rollout_undo(apps, name, namespace, to_revision=int(intent["revision"]))


def rollout_undo(
    apps: Any, name: str, namespace: str, to_revision: int | None = None, actor: str = ACTOR
) -> dict[str, Any]:
    """Roll ``name`` back to ``to_revision`` (default: the one before the current)."""
    deployment = apps.read_namespaced_deployment(name, namespace)
    current = int((deployment.metadata.annotations or {}).get(REVISION, "0"))
    owned = _replica_sets(apps, deployment)
    candidates = {rev: rs for rev, rs in owned.items() if rev != current}
    if not candidates:
        raise TargetError(f"deployment/{name} has no revision to roll back to")
    wanted = (
        to_revision
        if to_revision in candidates
        else max((r for r in candidates if r < current), default=max(candidates))
    )
    template = apps.api_client.sanitize_for_serialization(candidates[wanted].spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    patched = apps.patch_namespaced_deployment(
        name, namespace, [{"op": "replace", "path": "/spec/template", "value": template}]
    )
    return {
        "action": "rollout undo",
        "at": _updated_at(patched),
        "actor": actor,
        "reason": f"to revision {wanted}",
    }


def bad_patch(k: KubernetesDeployment, lease_id: str, expires: datetime) -> dict[str, Any]:
    """A strategic merge patch: containers merge by name, so only the named one changes."""
    container: dict[str, Any] = {"name": k.container}
    if k.image is not None:
        container["image"] = k.image
    else:
        container["env"] = [{"name": key, "value": value} for key, value in k.env.items()]
    return {
        "spec": {
            "template": {
                "metadata": {"annotations": {LEASE: lease_id, LEASE_EXPIRES: expires.isoformat()}},
                "spec": {"containers": [container]},
            }
        }
    }


def revert_job(
    k: KubernetesDeployment, lease_id: str, revision: int, ttl_s: float
) -> dict[str, Any]:
    """A Job that undoes the rollout when the TTL runs out, unless the lease already ended."""
    check = (
        f"kubectl -n {k.namespace} get deployment/{k.deployment} "
        f"-o jsonpath='{{.spec.template.metadata.annotations.mlchaos\\.io/lease}}'"
    )
    undo = (
        f"kubectl -n {k.namespace} rollout undo deployment/{k.deployment} --to-revision={revision}"
    )
    script = f'sleep {int(ttl_s)}; if [ "$({check})" = {shlex.quote(lease_id)} ]; then {undo}; fi'
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"mlchaos-revert-{lease_id}",
            "namespace": k.namespace,
            "labels": {"app.kubernetes.io/managed-by": "mlchaos", LEASE: lease_id},
        },
        "spec": {
            "backoffLimit": 5,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": k.service_account,
                    "containers": [
                        {
                            "name": "revert",
                            "image": k.reverter_image,
                            "command": ["sh", "-c", script],
                        }
                    ],
                }
            },
        },
    }


def _spec(fault: BadVersionFault) -> KubernetesDeployment:
    if fault.kubernetes is None:
        raise TargetError("this bad_version fault names no Kubernetes deployment")
    return fault.kubernetes


def _read(apps: Any, k: KubernetesDeployment) -> Any:
    return apps.read_namespaced_deployment(k.deployment, k.namespace)


def _carries(deployment: Any, k: KubernetesDeployment) -> bool:
    for container in deployment.spec.template.spec.containers:
        if container.name != k.container:
            continue
        if k.image is not None:
            return bool(container.image == k.image)
        env = {e.name: e.value for e in container.env or []}
        return all(env.get(key) == value for key, value in k.env.items())
    return False


def _replica_sets(apps: Any, deployment: Any) -> dict[int, Any]:
    labels = deployment.spec.selector.match_labels or {}
    selector = ",".join(f"{key}={value}" for key, value in labels.items())
    listed = apps.list_namespaced_replica_set(
        deployment.metadata.namespace, label_selector=selector
    )
    owned = {}
    for rs in listed.items:
        owners = rs.metadata.owner_references or []
        if any(o.uid == deployment.metadata.uid for o in owners):
            owned[int((rs.metadata.annotations or {}).get(REVISION, "0"))] = rs
    return owned


def _updated_at(deployment: Any) -> str:
    """When the API server applied the change: the newest managedFields time."""
    times = [f.time for f in deployment.metadata.managed_fields or [] if f.time is not None]
    return (max(times) if times else datetime.now(UTC)).isoformat()
