"""Deployments and ReplicaSets in the simulated cluster, driven through kubectl.

A minimal test-only kubelet (:class:`ReadyKubelet`) marks every pod Running and Ready, so
these tests need neither the scheduler nor the real kubelet; ``hold`` keeps new pods
not-ready to freeze a rollout mid-way.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.rest import subresources
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.simulation.deployments import DeploymentController
from pilothouse.apiserver.simulation.replicasets import ReplicaSetController
from pilothouse.apiserver.store import records
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


class ReadyKubelet(base.Controller):
    """Test-only: binds every pod to ``node-1`` and makes it Running and Ready at once
    (unless ``hold``); finishes graceful deletions at once."""

    name = "test-kubelet"
    resource = "pods"
    hold = False

    async def reconcile(self, key: base.Key) -> None:
        pod = self.get("pods", *key)
        if pod is None:
            return
        if pod["metadata"].get("deletionTimestamp"):
            await self.delete("pods", *key, grace=0, uid=pod["metadata"]["uid"])
            return
        if not pod["spec"].get("nodeName"):
            ctx = self._ctx("pods", key[0], key[1], "binding")
            await subresources.bind(self.st, ctx, {"target": {"name": "node-1"}}, key[1])
            return
        if self.hold or (pod.get("status") or {}).get("phase") == "Running":
            return
        now = self.now()
        cond = {"type": "Ready", "status": "True", "lastTransitionTime": now}
        await self.update_status(
            "pods", pod, dict(pod["status"], phase="Running", conditions=[cond])
        )


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    ReadyKubelet.hold = False
    cfg = server.ServerConfig(
        simulation=True,
        simulation_controllers=(DeploymentController, ReplicaSetController, ReadyKubelet),
    )
    srv = ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield srv
    finally:
        srv.stop()


def _rs(srv: ServerThread) -> dict[str, dict[str, Any]]:
    return {i["metadata"]["name"]: i for i in srv.get_json("rs")["items"]}


def _pods(srv: ServerThread) -> list[dict[str, Any]]:
    return list(srv.get_json("pods")["items"])


def _rolled_out(srv: ServerThread, name: str = "web") -> None:
    out = srv.kubectl("rollout", "status", f"deployment/{name}", "--timeout=20s").stdout
    assert "successfully rolled out" in out


def test_create_and_rollout_status(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=3")
    _rolled_out(sim)
    d = sim.get_json("deploy", "web")
    st = d["status"]
    assert st["replicas"] == st["updatedReplicas"] == st["availableReplicas"] == 3
    assert st["observedGeneration"] == d["metadata"]["generation"]
    conds = {c["type"]: c["reason"] for c in st["conditions"]}
    assert conds == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    (rs,) = _rs(sim).values()
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["status"]["readyReplicas"] == 3
    pods = _pods(sim)
    assert len(pods) == 3
    for p in pods:
        assert p["metadata"]["name"].startswith(f"web-{h}-")
        assert p["metadata"]["labels"]["pod-template-hash"] == h
        assert p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]


def test_scale_up_and_down(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    sim.kubectl("scale", "deployment/web", "--replicas=5")
    _rolled_out(sim)
    eventually(lambda: len(_pods(sim)) == 5)
    sim.kubectl("scale", "deployment/web", "--replicas=1")
    _rolled_out(sim)
    eventually(lambda: len(_pods(sim)) == 1)
    (rs,) = _rs(sim).values()
    assert rs["spec"]["replicas"] == 1
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "1"


def test_replicaset_replaces_deleted_pod_and_adopts_orphans(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    victim = _pods(sim)[0]["metadata"]["name"]
    sim.kubectl("delete", "pod", victim, "--wait=false")

    def replaced() -> bool:
        names = {p["metadata"]["name"] for p in _pods(sim)}
        return len(names) == 2 and victim not in names

    eventually(replaced)
    # A pod whose labels stop matching is released and replaced.
    released = _pods(sim)[0]["metadata"]["name"]
    sim.kubectl("label", "pod", released, "app=other", "--overwrite")
    eventually(lambda: len([p for p in _pods(sim) if p["metadata"]["labels"]["app"] == "web"]) == 2)
    pod = sim.get_json("pod", released)
    assert not pod["metadata"].get("ownerReferences")
    # Relabelled back, it is adopted and an extra pod goes.
    sim.kubectl("label", "pod", released, "app=web", "--overwrite")
    eventually(lambda: len(_pods(sim)) == 2)


def test_rolling_update_respects_surge_and_unavailable(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=4")
    sim.kubectl(
        "patch",
        "deployment/web",
        "-p",
        '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"}}}}',
    )
    _rolled_out(sim)
    (old_name,) = _rs(sim)
    st = sim.server.state
    assert st is not None
    seen: list[tuple[int, int, int]] = []

    def watch(events: list[records.Event]) -> None:
        rss = [r.obj() for r in st.store.iter("replicasets.apps", "default")]
        total = sum(r["spec"]["replicas"] for r in rss)
        ready = sum(
            1
            for r in st.store.iter("pods", "default")
            if not r.obj()["metadata"].get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (r.obj().get("status") or {}).get("conditions") or []
            )
        )
        seen.append((total, ready, len(rss)))

    st.store.listeners.append(watch)
    sim.kubectl("set", "image", "deployment/web", "nginx=nginx:2")
    _rolled_out(sim)
    st.store.listeners.remove(watch)
    assert seen
    # maxSurge 1: never more than 5 pods wanted; maxUnavailable 25% of 4 = 1: >= 3 ready.
    assert max(t for t, _, _ in seen) == 5
    assert min(r for _, r, _ in seen) >= 3
    rss = _rs(sim)
    assert len(rss) == 2
    assert rss[old_name]["spec"]["replicas"] == 0
    (new,) = [r for n, r in rss.items() if n != old_name]
    assert new["spec"]["replicas"] == 4
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    eventually(lambda: all(p["spec"]["containers"][0]["image"] == "nginx:2" for p in _pods(sim)))


def test_rollout_stalls_while_new_pods_are_not_ready(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=4")
    _rolled_out(sim)
    (old_name,) = _rs(sim)
    ReadyKubelet.hold = True
    sim.kubectl("set", "image", "deployment/web", "nginx=nginx:2")

    def stalled() -> dict[str, dict[str, Any]] | None:
        rss = _rs(sim)
        return rss if len(rss) == 2 else None

    rss = eventually(stalled)
    new_name = next(n for n in rss if n != old_name)
    # Default 25%/25% of 4: surge 1, unavailable 1 -> old 3, new 2 (5 total), then stuck.
    eventually(lambda: _rs(sim)[old_name]["spec"]["replicas"] == 3)
    eventually(lambda: _rs(sim)[new_name]["spec"]["replicas"] == 2)
    d = sim.get_json("deploy", "web")
    assert d["status"]["updatedReplicas"] == 2
    assert d["status"]["unavailableReplicas"] >= 1
    ReadyKubelet.hold = False
    for p in _pods(sim):  # Wake the kubelet for the held pods.
        sim.kubectl("annotate", "pod", p["metadata"]["name"], "poke=1", "--overwrite")
    _rolled_out(sim)
    assert _rs(sim)[old_name]["spec"]["replicas"] == 0


def test_rollout_undo_and_history(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    sim.kubectl("set", "image", "deployment/web", "nginx=nginx:2")
    _rolled_out(sim)
    history = sim.kubectl("rollout", "history", "deployment/web").stdout
    assert "1 " in history and "2 " in history
    sim.kubectl("rollout", "undo", "deployment/web")
    _rolled_out(sim)
    rss = _rs(sim)
    assert len(rss) == 2
    revs = {
        r["spec"]["template"]["spec"]["containers"][0]["image"]: r["metadata"]["annotations"]
        for r in rss.values()
    }
    assert revs["nginx:1"]["deployment.kubernetes.io/revision"] == "3"
    assert revs["nginx:1"]["deployment.kubernetes.io/revision-history"] == "1"
    assert rss[next(n for n, r in rss.items() if r["spec"]["replicas"])]
    eventually(lambda: all(p["spec"]["containers"][0]["image"] == "nginx:1" for p in _pods(sim)))
    d = sim.get_json("deploy", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_recreate_strategy(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=3")
    sim.kubectl(
        "patch",
        "deployment/web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/strategy","value":{"type":"Recreate"}}]',
    )
    _rolled_out(sim)
    st = sim.server.state
    assert st is not None
    hashes: list[set[str]] = []

    def watch(events: list[records.Event]) -> None:
        pods = [r.obj() for r in st.store.iter("pods", "default")]
        hashes.append({p["metadata"]["labels"]["pod-template-hash"] for p in pods})

    st.store.listeners.append(watch)
    sim.kubectl("set", "image", "deployment/web", "nginx=nginx:2")
    _rolled_out(sim)
    st.store.listeners.remove(watch)
    # Old pods are all gone before any new one is created.
    assert max(len(h) for h in hashes) == 1
    assert any(not h for h in hashes)
    eventually(lambda: len(_pods(sim)) == 3)
    assert all(p["spec"]["containers"][0]["image"] == "nginx:2" for p in _pods(sim))


def test_paused_deployment_does_not_roll(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    sim.kubectl("rollout", "pause", "deployment/web")
    sim.kubectl("set", "image", "deployment/web", "nginx=nginx:2")

    def paused() -> bool:
        conds = sim.get_json("deploy", "web")["status"]["conditions"]
        return any(c["reason"] == "DeploymentPaused" for c in conds)

    eventually(paused)
    assert len(_rs(sim)) == 1
    sim.kubectl("rollout", "resume", "deployment/web")
    _rolled_out(sim)
    assert len(_rs(sim)) == 2


def test_progress_deadline_exceeded(sim: ServerThread) -> None:
    ReadyKubelet.hold = True
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=1")
    sim.kubectl("patch", "deployment/web", "-p", '{"spec":{"progressDeadlineSeconds":1}}')
    proc = sim.kubectl("rollout", "status", "deployment/web", "--timeout=20s", check=False)
    assert proc.returncode != 0
    assert "exceeded its progress deadline" in proc.stderr


def test_revision_history_limit(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=1")
    sim.kubectl("patch", "deployment/web", "-p", '{"spec":{"revisionHistoryLimit":1}}')
    for tag in ("2", "3", "4"):
        sim.kubectl("set", "image", "deployment/web", f"nginx=nginx:{tag}")
        _rolled_out(sim)
    eventually(lambda: len(_rs(sim)) == 2)


@pytest.mark.parametrize("policy", ["background", "foreground", "orphan"])
def test_delete_deployment_propagation(sim: ServerThread, policy: str) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    sim.kubectl("delete", "deployment", "web", f"--cascade={policy}", "--wait=true")
    if policy == "orphan":
        (rs,) = eventually(
            lambda: [r for r in _rs(sim).values() if not r["metadata"].get("ownerReferences")]
        )
        assert rs["spec"]["replicas"] == 2
        assert len(_pods(sim)) == 2
    else:
        eventually(lambda: not _rs(sim) and not _pods(sim))


def test_recreated_deployment_adopts_orphaned_replicaset(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    (rs_name,) = _rs(sim)
    pods = {p["metadata"]["name"] for p in _pods(sim)}
    sim.kubectl("delete", "deployment", "web", "--cascade=orphan", "--wait=true")
    eventually(lambda: not _rs(sim)[rs_name]["metadata"].get("ownerReferences"))
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=2")
    _rolled_out(sim)
    rss = _rs(sim)
    assert list(rss) == [rs_name]
    assert rss[rs_name]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert {p["metadata"]["name"] for p in _pods(sim)} == pods


RS_YAML = """
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: solo}
spec:
  replicas: 2
  minReadySeconds: 1
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec: {containers: [{name: c, image: nginx}]}
"""


def test_standalone_replicaset_min_ready_seconds_and_scale(sim: ServerThread) -> None:
    st = sim.server.state
    assert st is not None
    statuses: list[dict[str, Any]] = []

    def watch(events: list[records.Event]) -> None:
        statuses.extend(
            dict(e.record.obj().get("status") or {})
            for e in events
            if e.record.group_resource == "replicasets.apps"
        )

    st.store.listeners.append(watch)
    sim.kubectl("apply", "-f", "-", input=RS_YAML)
    eventually(lambda: _rs(sim)["solo"]["status"].get("availableReplicas") == 2, timeout=15)
    st.store.listeners.remove(watch)
    first_ready = next(s for s in statuses if s.get("readyReplicas") == 2)
    assert not first_ready.get("availableReplicas")  # minReadySeconds not elapsed yet
    rs = _rs(sim)["solo"]
    assert rs["status"]["fullyLabeledReplicas"] == 2
    assert rs["status"]["observedGeneration"] == rs["metadata"]["generation"]
    assert "conditions" not in rs["status"]
    sim.kubectl("scale", "rs/solo", "--replicas=0")
    eventually(lambda: not _pods(sim))
    eventually(lambda: _rs(sim)["solo"]["status"]["replicas"] == 0)


def test_scale_during_rollout_converges(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=4")
    _rolled_out(sim)
    ReadyKubelet.hold = True
    sim.kubectl("set", "image", "deployment/web", "nginx=nginx:2")
    eventually(lambda: len(_rs(sim)) == 2)
    sim.kubectl("scale", "deployment/web", "--replicas=6")
    ReadyKubelet.hold = False
    for p in _pods(sim):
        sim.kubectl("annotate", "pod", p["metadata"]["name"], "poke=1", "--overwrite")
    _rolled_out(sim)

    def converged() -> bool:
        pods = _pods(sim)
        images = [p["spec"]["containers"][0]["image"] for p in pods]
        return len(pods) == 6 and set(images) == {"nginx:2"}

    eventually(converged)
    assert sorted(r["spec"]["replicas"] for r in _rs(sim).values()) == [0, 6]
