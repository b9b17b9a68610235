"""Nodes, scheduler and kubelet of the simulated cluster, driven through kubectl."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.simulation import kubelet, nodes, scheduler
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(
        simulation=True,
        nodes=3,
        simulation_controllers=(nodes.NodeController, scheduler.Scheduler, kubelet.Kubelet),
    )
    srv = ServerThread(cfg)
    srv.start(kubeconfig=tmp_path / "kubeconfig")
    try:
        eventually(lambda: len(srv.get_json("nodes")["items"]) == 3)
        yield srv
    finally:
        srv.stop()


def pod(name: str, cpu: str = "", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": spec.pop("ann", {})},
        "spec": {"containers": [container], **spec},
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == type_)


def test_nodes_registered_ready(sim: ServerThread) -> None:
    items = sim.get_json("nodes")["items"]
    assert [n["metadata"]["name"] for n in items] == ["node-1", "node-2", "node-3"]
    sim.kubectl("wait", "--for=condition=Ready", "node/node-1", "--timeout=10s")
    node = sim.get_json("node", "node-2")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-2"
    assert node["status"]["allocatable"]["cpu"] == "8"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"
    assert {"type": "InternalIP", "address": "127.0.0.3"} in node["status"]["addresses"]
    assert condition(node, "MemoryPressure")["status"] == "False"


def test_pods_run_and_spread(sim: ServerThread) -> None:
    for i in range(3):
        sim.apply(pod(f"p{i}"))
    sim.kubectl("wait", "--for=condition=Ready", "pod/p0", "pod/p1", "pod/p2", "--timeout=20s")
    pods = sim.get_json("pods")["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {"node-1", "node-2", "node-3"}
    for p in pods:
        st = p["status"]
        assert st["phase"] == "Running"
        assert st["podIP"].startswith("10.244.")
        assert st["containerStatuses"][0]["state"]["running"]["startedAt"]
        assert st["containerStatuses"][0]["containerID"].startswith("containerd://")
        assert st["qosClass"] == "BestEffort"
    assert len({p["status"]["podIP"] for p in pods}) == 3


def test_failed_readiness_annotation(sim: ServerThread) -> None:
    sim.apply(pod("unready", ann={kubelet.FAIL_READINESS: "true"}))
    eventually(lambda: sim.get_json("pod", "unready")["status"].get("phase") == "Running")
    p = sim.get_json("pod", "unready")
    assert condition(p, "Ready")["status"] == "False"
    assert condition(p, "Ready")["reason"] == "ContainersNotReady"
    sim.kubectl("annotate", "pod", "unready", f"{kubelet.FAIL_READINESS}-")
    sim.kubectl("wait", "--for=condition=Ready", "pod/unready", "--timeout=10s")


def test_exit_code_annotation(sim: ServerThread) -> None:
    sim.apply(pod("ok", ann={kubelet.EXIT_CODE: "0"}, restartPolicy="Never"))
    sim.apply(pod("bad", ann={kubelet.EXIT_CODE: "3"}, restartPolicy="Never"))
    eventually(lambda: sim.get_json("pod", "ok")["status"].get("phase") == "Succeeded")
    eventually(lambda: sim.get_json("pod", "bad")["status"].get("phase") == "Failed")
    term = sim.get_json("pod", "bad")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3


def test_unschedulable_until_resources_free(sim: ServerThread) -> None:
    for i in range(3):
        sim.apply(pod(f"big{i}", cpu="6"))
    sim.kubectl("wait", "--for=condition=Ready", "pod/big0", "pod/big1", "pod/big2")
    sim.apply(pod("extra", cpu="6"))

    def unscheduled() -> bool:
        p = sim.get_json("pod", "extra")
        c = condition(p, "PodScheduled")
        assert c["status"] == "False" and c["reason"] == "Unschedulable"
        assert c["message"] == "0/3 nodes are available: 3 Insufficient cpu."
        return True

    eventually(unscheduled)
    assert sim.get_json("pod", "extra")["status"]["phase"] == "Pending"
    sim.kubectl("delete", "pod", "big1", "--wait=true", "--timeout=20s")
    sim.kubectl("wait", "--for=condition=Ready", "pod/extra", "--timeout=20s")


def test_selector_affinity_and_message(sim: ServerThread) -> None:
    sim.apply(pod("sel", nodeSelector={"kubernetes.io/hostname": "node-2"}))
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": ["node-3"]}
                        ]
                    }
                ]
            }
        }
    }
    sim.apply(pod("aff", affinity=affinity))
    sim.apply(pod("none", cpu="6", nodeSelector={"kubernetes.io/hostname": "node-3"}))
    sim.kubectl("wait", "--for=condition=Ready", "pod/sel", "pod/aff", "--timeout=20s")
    assert sim.get_json("pod", "sel")["spec"]["nodeName"] == "node-2"
    assert sim.get_json("pod", "aff")["spec"]["nodeName"] == "node-3"
    sim.kubectl("wait", "--for=condition=Ready", "pod/none", "--timeout=20s")
    sim.apply(pod("nofit", cpu="6", nodeSelector={"kubernetes.io/hostname": "node-3"}))
    want = (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't match Pod's node affinity/selector."
    )
    eventually(lambda: condition(sim.get_json("pod", "nofit"), "PodScheduled")["message"] == want)


def test_taints_and_cordon(sim: ServerThread) -> None:
    for n in ("node-1", "node-2"):
        sim.kubectl("taint", "node", n, "dedicated=gpu:NoSchedule")
    sim.kubectl("cordon", "node-3")
    eventually(
        lambda: (
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
            in sim.get_json("node", "node-3")["spec"].get("taints", [])
        )
    )
    sim.apply(pod("plain"))
    want = (
        "0/3 nodes are available: 1 node(s) were unschedulable, "
        "2 node(s) had untolerated taint {dedicated: gpu}."
    )
    eventually(lambda: condition(sim.get_json("pod", "plain"), "PodScheduled")["message"] == want)
    tol = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    sim.apply(pod("tolerant", tolerations=tol))
    sim.kubectl("wait", "--for=condition=Ready", "pod/tolerant", "--timeout=20s")
    assert sim.get_json("pod", "tolerant")["spec"]["nodeName"] in ("node-1", "node-2")
    sim.kubectl("uncordon", "node-3")
    sim.kubectl("wait", "--for=condition=Ready", "pod/plain", "--timeout=20s")
    assert sim.get_json("pod", "plain")["spec"]["nodeName"] == "node-3"
    assert "taints" not in sim.get_json("node", "node-3")["spec"]


def test_graceful_delete_and_node_deletion(sim: ServerThread) -> None:
    sim.apply(pod("g", nodeSelector={"kubernetes.io/hostname": "node-1"}))
    sim.kubectl("wait", "--for=condition=Ready", "pod/g", "--timeout=20s")
    sim.kubectl("delete", "pod", "g", "--timeout=20s")
    assert sim.kubectl("get", "pod", "g", check=False).returncode != 0
    sim.apply(pod("h", nodeSelector={"kubernetes.io/hostname": "node-1"}))
    sim.kubectl("wait", "--for=condition=Ready", "pod/h", "--timeout=20s")
    sim.kubectl("delete", "node", "node-1")
    sim.kubectl("wait", "--for=delete", "pod/h", "--timeout=20s")
    # A node a user deleted is not recreated while the server runs.
    assert [n["metadata"]["name"] for n in sim.get_json("nodes")["items"]] == [
        "node-2",
        "node-3",
    ]


def test_start_and_stop_delays(tmp_path: pathlib.Path) -> None:
    cfg = server.ServerConfig(
        simulation=True,
        nodes=1,
        pod_start_delay=1.0,
        simulation_controllers=(nodes.NodeController, scheduler.Scheduler, kubelet.Kubelet),
    )
    with ServerThread(cfg) as srv:
        srv.start(kubeconfig=tmp_path / "kubeconfig")
        eventually(lambda: srv.get_json("nodes")["items"])
        srv.apply(pod("slow"))

        def creating() -> bool:
            p = srv.get_json("pod", "slow")
            cs = p["status"]["containerStatuses"][0]
            assert cs["state"] == {"waiting": {"reason": "ContainerCreating"}}
            assert p["status"]["phase"] == "Pending" and p["status"]["hostIP"] == "127.0.0.2"
            return True

        eventually(creating)
        srv.kubectl("wait", "--for=condition=Ready", "pod/slow", "--timeout=10s")
        srv.kubectl("delete", "pod", "slow", "--wait=false")
        # Terminating for a while (the simulated containers stopping), then gone.
        assert srv.get_json("pod", "slow")["metadata"]["deletionGracePeriodSeconds"] == 30
        srv.kubectl("wait", "--for=delete", "pod/slow", "--timeout=10s")


def test_nodes_recreated_on_restart(tmp_path: pathlib.Path) -> None:
    cfg = server.ServerConfig(
        state_dir=tmp_path / "state",
        simulation=True,
        nodes=2,
        simulation_controllers=(nodes.NodeController, scheduler.Scheduler, kubelet.Kubelet),
    )
    with ServerThread(cfg) as srv:
        srv.start(kubeconfig=tmp_path / "kubeconfig")
        eventually(lambda: len(srv.get_json("nodes")["items"]) == 2)
        srv.apply(pod("kept", nodeSelector={"kubernetes.io/hostname": "node-2"}))
        srv.kubectl("wait", "--for=condition=Ready", "pod/kept", "--timeout=10s")
        srv.kubectl("delete", "node", "node-1")
    with ServerThread(cfg) as srv:
        srv.start(kubeconfig=tmp_path / "kubeconfig2")
        eventually(lambda: len(srv.get_json("nodes")["items"]) == 2)
        srv.kubectl("wait", "--for=condition=Ready", "pod/kept", "--timeout=10s")
        assert srv.get_json("pod", "kept")["metadata"]["uid"]
