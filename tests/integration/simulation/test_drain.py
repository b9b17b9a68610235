"""kubectl drain and PodDisruptionBudgets against the simulated cluster."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import errors, server
from pilothouse.apiserver.simulation import disruption, kubelet, nodes, scheduler
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(
        simulation=True,
        nodes=3,
        simulation_controllers=(
            nodes.NodeController,
            scheduler.Scheduler,
            kubelet.Kubelet,
            disruption.DisruptionController,
        ),
    )
    srv = ServerThread(cfg)
    srv.start(kubeconfig=tmp_path / "kubeconfig")
    try:
        eventually(lambda: len(srv.get_json("nodes")["items"]) == 3)
        yield srv
    finally:
        srv.stop()


def run_pods(srv: ServerThread, names: list[str], node: str = "node-1") -> None:
    for name in names:
        srv.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/hostname": node},
                    "containers": [{"name": "app", "image": "nginx"}],
                },
            },
        )
    srv.kubectl("wait", "--for=condition=Ready", *(f"pod/{n}" for n in names), "--timeout=20s")


def pdb(srv: ServerThread, name: str, **spec: Any) -> None:
    srv.apply(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
        },
    )


def pdb_status(srv: ServerThread, name: str) -> dict[str, Any]:
    status: dict[str, Any] = srv.get_json("pdb", name).get("status") or {}
    return status


def test_drain_evicts_pods(sim: ServerThread) -> None:
    run_pods(sim, ["a", "b"])
    proc = sim.kubectl(
        "drain",
        "node-1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=30s",
    )
    assert "node/node-1 drained" in proc.stdout
    assert sim.get_json("pods")["items"] == []
    assert sim.get_json("node", "node-1")["spec"]["unschedulable"] is True


def test_pdb_status(sim: ServerThread) -> None:
    run_pods(sim, ["a", "b", "c"])
    pdb(sim, "min2", minAvailable=2)

    def computed() -> bool:
        st = pdb_status(sim, "min2")
        assert st.get("currentHealthy") == 3 and st.get("desiredHealthy") == 2
        assert st["expectedPods"] == 3 and st["disruptionsAllowed"] == 1
        assert st["observedGeneration"] == 1
        cond = st["conditions"][0]
        assert (cond["type"], cond["status"], cond["reason"]) == (
            "DisruptionAllowed",
            "True",
            "SufficientPods",
        )
        return True

    eventually(computed)
    sim.kubectl("annotate", "pod", "c", f"{kubelet.FAIL_READINESS}=true")
    eventually(lambda: pdb_status(sim, "min2").get("disruptionsAllowed") == 0)
    assert pdb_status(sim, "min2")["conditions"][0]["reason"] == "InsufficientPods"


def test_pdb_blocks_drain(sim: ServerThread) -> None:
    run_pods(sim, ["a", "b"])
    pdb(sim, "all", minAvailable=2)
    eventually(lambda: pdb_status(sim, "all").get("currentHealthy") == 2)
    proc = sim.kubectl(
        "drain",
        "node-1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=5s",
        check=False,
    )
    assert proc.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in proc.stderr
    assert len(sim.get_json("pods")["items"]) == 2

    state = sim.server.state
    assert state is not None
    pod = sim.get_json("pod", "a")

    async def evict() -> None:
        await disruption.check_eviction(state, pod)

    with pytest.raises(errors.ApiError) as info:
        sim.call(evict())
    assert info.value.code == 429
    assert info.value.details == {
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget all needs 2 healthy pods and has 2 currently",
            }
        ]
    }


def test_eviction_spends_budget(sim: ServerThread) -> None:
    # A ReplicaSet (no ReplicaSet controller runs here) owns the pods: drain needs no --force
    # and the budget expects the ReplicaSet's 3 replicas even after a pod went.
    labels = {"app": "web"}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }
    sim.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": template},
        },
    )
    rs = sim.get_json("rs", "web")
    ref = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }
    for name in ("a", "b", "c"):
        sim.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": labels, "ownerReferences": [ref]},
                "spec": {
                    "nodeSelector": {"kubernetes.io/hostname": "node-1"},
                    "containers": [{"name": "app", "image": "nginx"}],
                },
            },
        )
    sim.kubectl("wait", "--for=condition=Ready", "pod/a", "pod/b", "pod/c", "--timeout=20s")
    pdb(sim, "one", maxUnavailable=1)
    eventually(lambda: pdb_status(sim, "one").get("disruptionsAllowed") == 1)
    proc = sim.kubectl("drain", "node-1", "--ignore-daemonsets", "--timeout=5s", check=False)
    assert proc.returncode != 0
    assert "disruption budget" in proc.stderr
    # Exactly one pod went; the budget then allows no more.
    eventually(lambda: len(sim.get_json("pods")["items"]) == 2)
    eventually(lambda: pdb_status(sim, "one").get("disruptionsAllowed") == 0)
    st = pdb_status(sim, "one")
    assert (st["expectedPods"], st["desiredHealthy"], st["currentHealthy"]) == (3, 2, 2)
