"""The Kubernetes target against the API contract, with the real kubernetes client.

No cluster can run here, so `tests/fake_kube.py` serves the apps/v1 and batch/v1 subset on
loopback, Deployment-controller revisions included. What runs for real: the client, the
connection through chaostoolkit-kubernetes, the patches and the rollout-undo logic. What
does not: a kubelet, real pods, and the revert Job's container (its manifest is checked).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlchaos.faults import fault_type
from mlchaos.faults.leases import revert_all
from mlchaos.faults.targets import kubernetes as k8s
from mlchaos.journal import EventRecord, Journal
from mlchaos.schema import BadVersionFault
from tests.fake_kube import FakeKube
from tests.unit.test_compile import SERVICE

pytestmark = pytest.mark.integration


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeKube]:
    fake = FakeKube()
    fake.add_deployment("ml", "scorer", image="registry/scorer:v2")
    server, url = fake.serve()
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("KUBERNETES_HOST", url)
    yield fake
    server.shutdown()


def fault(**kubernetes: object) -> BadVersionFault:
    spec = {"deployment": "scorer", "namespace": "ml", "container": "server", **kubernetes}
    return BadVersionFault.model_validate({"type": "bad_version", "ttl": "90s", "kubernetes": spec})


def image(kube: FakeKube) -> str:
    return str(
        kube.deployments[("ml", "scorer")]["spec"]["template"]["spec"]["containers"][0]["image"]
    )


def revision(kube: FakeKube) -> str:
    return str(kube.deployments[("ml", "scorer")]["metadata"]["annotations"][k8s.REVISION])


def test_bad_image_is_rolled_out_with_a_revert_job_and_undone(
    kube: FakeKube, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    bad = fault(image="registry/scorer:broken")
    kind = fault_type(bad.type)
    lease = kind.inject(journal, SERVICE, bad)
    assert (image(kube), revision(kube)) == ("registry/scorer:broken", "2")
    assert kind.confirm(journal, SERVICE, bad) is True

    job = kube.jobs[("ml", f"mlchaos-revert-{lease}")]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert script.startswith("sleep 90;")
    assert "rollout undo deployment/scorer --to-revision=1" in script
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "mlchaos-reverter"

    [ended] = revert_all(journal)
    assert ended["action"] == "rollout undo" and ended["reason"] == "to revision 1"
    # As in Kubernetes, the rollback reuses revision 1's ReplicaSet as revision 3.
    assert (image(kube), revision(kube)) == ("registry/scorer:v2", "3")
    assert ("ml", f"mlchaos-revert-{lease}") not in kube.jobs
    events = [r.event for r in journal.of(EventRecord)]
    assert events == ["injected", "reverted"]


def test_env_variant_changes_only_the_named_container_env(kube: FakeKube, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    bad = fault(env={"MODEL_VERSION": "v3-inverted"})
    fault_type(bad.type).inject(journal, SERVICE, bad)
    container = kube.deployments[("ml", "scorer")]["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "MODEL_VERSION", "value": "v3-inverted"}]
    assert container["image"] == "registry/scorer:v2"
    revert_all(journal)
    container = kube.deployments[("ml", "scorer")]["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container


def test_rollout_undo_goes_to_the_previous_revision_by_default(kube: FakeKube) -> None:
    apps, _ = k8s.apis()
    apps.patch_namespaced_deployment(
        "scorer",
        "ml",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "server", "image": "registry/scorer:v3"}]}
                }
            }
        },
    )
    assert revision(kube) == "2"
    undone = k8s.rollout_undo(apps, "scorer", "ml")
    assert undone["reason"] == "to revision 1"
    assert image(kube) == "registry/scorer:v2"


def test_ending_a_lease_someone_already_rolled_back_does_nothing_more(
    kube: FakeKube, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    bad = fault(image="registry/scorer:broken")
    fault_type(bad.type).inject(journal, SERVICE, bad)
    apps, _ = k8s.apis()
    k8s.rollout_undo(apps, "scorer", "ml", actor="on-call")  # the mitigation
    [ended] = revert_all(journal)
    assert ended["action"] == "already undone"
    assert (image(kube), revision(kube)) == ("registry/scorer:v2", "3")


def test_exactly_one_of_image_or_env() -> None:
    with pytest.raises(ValueError, match="give exactly one of 'image' or 'env'"):
        fault()
