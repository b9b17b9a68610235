"""DaemonSets in the simulated cluster, driven through kubectl.

Node objects are created by the tests; a minimal test-only kubelet (:class:`ReadyKubelet`)
marks every pod Running and Ready without binding it, so neither the scheduler nor the
real kubelet is needed (daemon pods are pinned by node affinity, not ``nodeName``).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.simulation.daemonsets import DaemonSetController, pod_node
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


class ReadyKubelet(base.Controller):
    """Test-only: every pod becomes Running and Ready at once."""

    name = "test-kubelet"
    resource = "pods"

    async def reconcile(self, key: base.Key) -> None:
        pod = self.get("pods", *key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        if (pod.get("status") or {}).get("phase") == "Running":
            return
        now = self.now()
        cond = {"type": "Ready", "status": "True", "lastTransitionTime": now}
        await self.update_status(
            "pods", pod, {"phase": "Running", "conditions": [cond], "startTime": now}
        )


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(
        simulation=True, simulation_controllers=(DaemonSetController, ReadyKubelet)
    )
    srv = ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield srv
    finally:
        srv.stop()


def _node(name: str, taint: str = "", labels: str = "{}") -> str:
    taints = f"  taints: [{taint}]" if taint else ""
    return f"""
apiVersion: v1
kind: Node
metadata: {{name: {name}, labels: {labels}}}
spec:
{taints or "  {}"}
"""


DS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: "agent:1"}]
"""


def _pods_by_node(srv: ServerThread) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pod in srv.get_json("pods")["items"]:
        node = pod_node(pod)
        assert node is not None and node not in out, pod
        out[node] = pod
    return out


def _rolled_out(srv: ServerThread) -> None:
    out = srv.kubectl("rollout", "status", "ds/agent", "--timeout=30s").stdout
    assert "successfully rolled out" in out, out


def _nodes(srv: ServerThread) -> None:
    srv.kubectl("apply", "-f", "-", input=_node("node-1"))
    srv.kubectl("apply", "-f", "-", input=_node("node-2"))
    taint = "{key: dedicated, value: db, effect: NoSchedule}"
    srv.kubectl("apply", "-f", "-", input=_node("node-3", taint))


def test_one_pod_per_untainted_node(sim: ServerThread) -> None:
    _nodes(sim)
    sim.kubectl("apply", "-f", "-", input=DS)
    _rolled_out(sim)
    pods = _pods_by_node(sim)
    assert sorted(pods) == ["node-1", "node-2"]
    for node, pod in pods.items():
        assert "nodeName" not in pod["spec"]
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert terms == [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        ]
        keys = {t["key"] for t in pod["spec"]["tolerations"]}
        assert {"node.kubernetes.io/not-ready", "node.kubernetes.io/unschedulable"} <= keys
        assert pod["metadata"]["generateName"] == "agent-"
    status = sim.get_json("ds", "agent")["status"]
    assert status["desiredNumberScheduled"] == status["currentNumberScheduled"] == 2
    assert status["numberReady"] == status["numberAvailable"] == 2
    assert status["updatedNumberScheduled"] == 2
    assert status["numberMisscheduled"] == 0


def test_toleration_and_rolling_update(sim: ServerThread) -> None:
    _nodes(sim)
    sim.kubectl("apply", "-f", "-", input=DS)
    _rolled_out(sim)
    before = {p["metadata"]["uid"] for p in _pods_by_node(sim).values()}
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                    "containers": [{"name": "c", "image": "agent:2"}],
                }
            }
        }
    }
    sim.kubectl("patch", "ds", "agent", "-p", json.dumps(patch))
    _rolled_out(sim)

    def replaced() -> bool:
        pods = _pods_by_node(sim)
        assert sorted(pods) == ["node-1", "node-2", "node-3"]
        assert all(p["spec"]["containers"][0]["image"] == "agent:2" for p in pods.values())
        assert not before & {p["metadata"]["uid"] for p in pods.values()}
        return True

    eventually(replaced)
    assert len(sim.get_json("controllerrevisions")["items"]) == 2


def test_nodes_come_and_go_and_selectors(sim: ServerThread) -> None:
    _nodes(sim)
    ds = DS.replace("    spec:\n", "    spec:\n      nodeSelector: {role: edge}\n")
    sim.kubectl("apply", "-f", "-", input=ds)
    eventually(lambda: sim.get_json("ds", "agent").get("status", {}).get("observedGeneration"))
    assert _pods_by_node(sim) == {}
    sim.kubectl("label", "node", "node-1", "node-2", "role=edge")
    eventually(lambda: sorted(_pods_by_node(sim)) == ["node-1", "node-2"])
    # kube's own unschedulable taint is tolerated by every daemon pod.
    sim.kubectl(
        "apply",
        "-f",
        "-",
        input=_node(
            "node-4",
            "{key: node.kubernetes.io/unschedulable, effect: NoSchedule}",
            "{role: edge}",
        ),
    )
    eventually(lambda: sorted(_pods_by_node(sim)) == ["node-1", "node-2", "node-4"])
    sim.kubectl("label", "node", "node-2", "role-")
    eventually(lambda: sorted(_pods_by_node(sim)) == ["node-1", "node-4"])
    sim.kubectl("delete", "node", "node-4")
    eventually(lambda: sorted(_pods_by_node(sim)) == ["node-1"])
    _rolled_out(sim)
