"""StatefulSets in the simulated cluster, driven through kubectl.

A minimal test-only kubelet (:class:`OrdinalKubelet`) marks pods Running and Ready (unless
``hold`` is set and the pod lacks the ``test/ready`` annotation). It also records, as each
pod is created, whether all lower ordinals were already ready, and the order pods were
deleted in, so ordering is asserted from events rather than by sampling.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.simulation.statefulsets import StatefulSetController, pod_ready
from pilothouse.apiserver.simulation.volumes import VolumeController
from pilothouse.apiserver.store import records
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


class OrdinalKubelet(base.Controller):
    """Test-only kubelet: pods become Running+Ready; records creation/deletion order."""

    name = "test-kubelet"
    resource = "pods"
    hold = False
    created_early: list[str] = []
    deleted: list[str] = []

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if event.type == records.DELETED:
            self.deleted.append(rec.name)
        elif event.type == records.ADDED:
            stem, _, ordinal = rec.name.rpartition("-")
            for j in range(int(ordinal) if ordinal.isdigit() else 0):
                prev = self.get("pods", rec.namespace, f"{stem}-{j}")
                if prev is None or not pod_ready(prev):
                    self.created_early.append(rec.name)
                    break
        return super().keys_for(event)

    async def reconcile(self, key: base.Key) -> None:
        pod = self.get("pods", *key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        released = "test/ready" in (pod["metadata"].get("annotations") or {})
        if (self.hold and not released) or (pod.get("status") or {}).get("phase") == "Running":
            return
        now = self.now()
        cond = {"type": "Ready", "status": "True", "lastTransitionTime": now}
        await self.update_status(
            "pods", pod, {"phase": "Running", "conditions": [cond], "startTime": now}
        )


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    OrdinalKubelet.hold = False
    OrdinalKubelet.created_early = []
    OrdinalKubelet.deleted = []
    cfg = server.ServerConfig(
        simulation=True,
        simulation_controllers=(VolumeController, StatefulSetController, OrdinalKubelet),
    )
    srv = ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield srv
    finally:
        srv.stop()


def _sts(replicas: int = 3, policy: str = "OrderedReady", extra: str = "") -> str:
    return f"""
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  serviceName: web
  replicas: {replicas}
  podManagementPolicy: {policy}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: "nginx:1"}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
{extra}"""


def _pods(srv: ServerThread) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in srv.get_json("pods")["items"]}


def _rolled_out(srv: ServerThread) -> None:
    out = srv.kubectl("rollout", "status", "sts/web", "--timeout=30s").stdout
    assert "roll out complete" in out or "rolling update complete" in out, out


def test_ordered_rollout_with_claims(sim: ServerThread) -> None:
    sim.kubectl("apply", "-f", "-", input=_sts())
    _rolled_out(sim)
    assert OrdinalKubelet.created_early == []
    pods = _pods(sim)
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    for i in range(3):
        pod = pods[f"web-{i}"]
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
        assert labels["apps.kubernetes.io/pod-index"] == str(i)
        assert pod["spec"]["hostname"] == f"web-{i}"
        assert pod["spec"]["subdomain"] == "web"
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert claims == [f"data-web-{i}"]

    def claims_bound() -> bool:
        pvcs = sim.get_json("pvc")["items"]
        assert sorted(p["metadata"]["name"] for p in pvcs) == [
            "data-web-0",
            "data-web-1",
            "data-web-2",
        ]
        assert all(p["status"].get("phase") == "Bound" for p in pvcs), pvcs
        assert all(not p["metadata"].get("ownerReferences") for p in pvcs)
        return True

    eventually(claims_bound)
    sts = sim.get_json("sts", "web")
    status = sts["status"]
    assert status["replicas"] == status["readyReplicas"] == status["updatedReplicas"] == 3
    assert status["currentRevision"] == status["updateRevision"]
    assert status["observedGeneration"] == sts["metadata"]["generation"]
    revs = sim.get_json("controllerrevisions")["items"]
    assert [r["metadata"]["name"] for r in revs] == [status["updateRevision"]]
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in pods.values()}
    assert hashes == {status["updateRevision"]}


def test_ordered_ready_waits_for_each_ordinal(sim: ServerThread) -> None:
    OrdinalKubelet.hold = True
    sim.kubectl("apply", "-f", "-", input=_sts())
    # The reconcile that created web-0 then wrote status; web-0 is not ready, so it stops.
    eventually(lambda: sim.get_json("sts", "web").get("status", {}).get("replicas") == 1)
    assert sorted(_pods(sim)) == ["web-0"]
    sim.kubectl("annotate", "pod", "web-0", "test/ready=1")
    eventually(lambda: sorted(_pods(sim)) == ["web-0", "web-1"])
    sim.kubectl("annotate", "pod", "web-1", "test/ready=1")
    eventually(lambda: "web-2" in _pods(sim))
    sim.kubectl("annotate", "pod", "web-2", "test/ready=1")
    _rolled_out(sim)
    assert OrdinalKubelet.created_early == []


def test_parallel_creates_all_at_once(sim: ServerThread) -> None:
    OrdinalKubelet.hold = True
    sim.kubectl("apply", "-f", "-", input=_sts(policy="Parallel"))
    eventually(lambda: sorted(_pods(sim)) == ["web-0", "web-1", "web-2"])


def test_scale_down_from_highest_and_recreate(sim: ServerThread) -> None:
    sim.kubectl("apply", "-f", "-", input=_sts(replicas=4))
    _rolled_out(sim)
    old_uid = _pods(sim)["web-1"]["metadata"]["uid"]
    sim.kubectl("delete", "pod", "web-1")

    def recreated() -> bool:
        pod = _pods(sim).get("web-1")
        return pod is not None and pod["metadata"]["uid"] != old_uid

    eventually(recreated)
    _rolled_out(sim)
    OrdinalKubelet.deleted.clear()
    sim.kubectl("scale", "sts", "web", "--replicas=1")
    eventually(lambda: sorted(_pods(sim)) == ["web-0"])
    assert OrdinalKubelet.deleted == ["web-3", "web-2", "web-1"]
    _rolled_out(sim)
    # Claims are retained by default.
    assert len(sim.get_json("pvc")["items"]) == 4


def test_rolling_update_with_partition(sim: ServerThread) -> None:
    sim.kubectl("apply", "-f", "-", input=_sts())
    _rolled_out(sim)
    first = sim.get_json("sts", "web")["status"]["updateRevision"]
    sim.kubectl(
        "patch",
        "sts",
        "web",
        "-p",
        '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}',
    )
    OrdinalKubelet.deleted.clear()
    sim.kubectl("set", "image", "sts/web", "c=nginx:2")

    def partitioned() -> bool:
        st = sim.get_json("sts", "web")["status"]
        assert st["updateRevision"] != first and st["currentRevision"] == first
        assert st["updatedReplicas"] == 1 and st["readyReplicas"] == 3, st
        return True

    eventually(partitioned)
    images = {n: p["spec"]["containers"][0]["image"] for n, p in _pods(sim).items()}
    assert images == {"web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2"}
    sim.kubectl(
        "patch",
        "sts",
        "web",
        "-p",
        '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}',
    )
    _rolled_out(sim)
    assert OrdinalKubelet.deleted == ["web-2", "web-1", "web-0"]
    images = {n: p["spec"]["containers"][0]["image"] for n, p in _pods(sim).items()}
    assert set(images.values()) == {"nginx:2"}
    st = sim.get_json("sts", "web")["status"]
    assert st["currentRevision"] == st["updateRevision"] != first
    assert len(sim.get_json("controllerrevisions")["items"]) == 2
    history = sim.kubectl("rollout", "history", "sts/web").stdout
    assert "1" in history and "2" in history


def test_claims_deleted_with_retention_policy(sim: ServerThread) -> None:
    policy = "  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}"
    sim.kubectl("apply", "-f", "-", input=_sts(replicas=2, extra=policy))
    _rolled_out(sim)
    sim.kubectl("scale", "sts", "web", "--replicas=1")
    eventually(
        lambda: [p["metadata"]["name"] for p in sim.get_json("pvc")["items"]] == ["data-web-0"]
    )
    owners = sim.get_json("pvc", "data-web-0")["metadata"]["ownerReferences"]
    assert owners[0]["kind"] == "StatefulSet"


def test_available_after_min_ready_seconds(sim: ServerThread) -> None:
    manifest = _sts(replicas=1).replace(
        "  serviceName: web", "  serviceName: web\n  minReadySeconds: 2"
    )
    sim.kubectl("apply", "-f", "-", input=manifest)

    def ready() -> dict[str, Any] | None:
        status: dict[str, Any] = sim.get_json("sts", "web").get("status", {})
        return status if status.get("readyReplicas") == 1 else None

    assert eventually(ready)["availableReplicas"] == 0
    eventually(lambda: sim.get_json("sts", "web")["status"]["availableReplicas"] == 1)


def test_revision_history_limit(sim: ServerThread) -> None:
    manifest = _sts(replicas=2).replace(
        "  serviceName: web", "  serviceName: web\n  revisionHistoryLimit: 1"
    )
    sim.kubectl("apply", "-f", "-", input=manifest)
    _rolled_out(sim)
    for image in ("nginx:2", "nginx:3"):
        sim.kubectl("set", "image", "sts/web", f"c=nginx:{image[-1]}")
        _rolled_out(sim)

    def trimmed() -> bool:
        revs = sim.get_json("controllerrevisions")["items"]
        assert sorted(int(r["revision"]) for r in revs) == [2, 3]
        return True

    eventually(trimmed)
