"""Simulated nodes: the kubelets' node registration and the node lifecycle controller.

Design choices:

* The simulation owns ``config.nodes`` nodes named ``node-1`` .. ``node-N``. They are
  created when the server starts (so a restarted server gets them back), but a node a user
  deletes while the server runs stays deleted, as on a real cluster where a deleted Node
  only returns when its kubelet re-registers.
* Every Node is treated as backed by a simulated kubelet (like KWOK's ``manage-all-nodes``):
  a Node a user creates gets a Ready status too. Status fields are only *filled in* when
  missing, never overwritten, so a test can mark a node NotReady by patching its status
  subresource and the simulation leaves that alone. Heartbeats are not refreshed
  periodically: that would only churn the watch stream.
* Like the node lifecycle controller, ``spec.unschedulable`` (``kubectl cordon``) is
  mirrored as the ``node.kubernetes.io/unschedulable:NoSchedule`` taint and a Ready
  condition other than True as ``node.kubernetes.io/not-ready:NoSchedule``. Nothing is
  evicted (NoExecute taints are not added), so pods on such nodes keep running.
"""

from __future__ import annotations

import copy

from pilothouse.apiserver import state
from pilothouse.apiserver.simulation import base

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
KUBELET_VERSION = "v1.32.0"


def node_names(config: base.SimulationConfig) -> list[str]:
    return [f"node-{i}" for i in range(1, config.nodes + 1)]


def node_index(name: str) -> int:
    """The number of a simulated node (``node-3`` -> 3); 0 for other names."""
    prefix, _, num = name.rpartition("-")
    return int(num) if prefix == "node" and num.isdigit() else 0


def internal_ip(name: str) -> str:
    idx = node_index(name)
    if 0 < idx < 250:
        return f"127.0.0.{idx + 1}"
    # A node a user created: a stable address outside the simulated nodes' range.
    return f"127.0.1.{sum(name.encode()) % 250 + 1}"


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> base.Obj:
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def default_conditions(now: str) -> list[base.Obj]:
    return [
        _condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            now,
        ),
        _condition(
            "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now
        ),
        _condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            now,
        ),
        _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
    ]


def desired_status(
    name: str, current: base.Obj, config: base.SimulationConfig, now: str
) -> base.Obj:
    """``current`` with every missing part of a healthy node's status filled in."""
    status = copy.deepcopy(current)
    capacity = {
        "cpu": config.node_cpu,
        "memory": config.node_memory,
        "pods": str(config.node_pods),
        "ephemeral-storage": "100Gi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }
    status.setdefault("capacity", capacity)
    status.setdefault("allocatable", dict(status["capacity"]))
    have = {c.get("type") for c in status.get("conditions") or []}
    conds = list(status.get("conditions") or [])
    conds += [c for c in default_conditions(now) if c["type"] not in have]
    status["conditions"] = conds
    status.setdefault(
        "addresses",
        [
            {"type": "InternalIP", "address": internal_ip(name)},
            {"type": "Hostname", "address": name},
        ],
    )
    status.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 10250}})
    status.setdefault(
        "nodeInfo",
        {
            "machineID": f"pilothouse-{name}",
            "systemUUID": f"pilothouse-{name}",
            "bootID": f"pilothouse-{name}",
            "kernelVersion": "6.1.0-pilothouse",
            "osImage": "Pilothouse simulated node",
            "containerRuntimeVersion": "containerd://1.7.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    )
    return status


def desired_taints(node: base.Obj) -> list[base.Obj]:
    """The node's taints with the lifecycle controller's NoSchedule taints reconciled."""
    spec = node.get("spec") or {}
    ready = next(
        (
            c.get("status")
            for c in (node.get("status") or {}).get("conditions") or []
            if c.get("type") == "Ready"
        ),
        "True",  # not reported yet: the kubelet is about to post Ready
    )
    want = {UNSCHEDULABLE_TAINT: bool(spec.get("unschedulable")), NOT_READY_TAINT: ready != "True"}
    taints: list[base.Obj] = []
    for t in spec.get("taints") or []:
        key = t.get("key")
        if key in want and t.get("effect") == "NoSchedule":
            if not want[key]:
                continue
            want[key] = False  # already present
        taints.append(t)
    for key, missing in want.items():
        if missing:
            taints.append({"key": key, "effect": "NoSchedule"})
    return taints


class NodeController(base.Controller):
    """Registers the simulated nodes and keeps every node's status and taints."""

    name = "node-controller"
    resource = "nodes"
    manager = "kubelet"

    def __init__(self, st: state.ServerState, config: base.SimulationConfig) -> None:
        super().__init__(st, config)
        self._to_register: set[str] = set()

    def start(self) -> None:
        super().start()
        for name in node_names(self.config):
            self._to_register.add(name)
            self.worker.enqueue(("", name))

    async def reconcile(self, key: base.Key) -> None:
        _, name = key
        node = self.get("nodes", "", name)
        if node is None:
            if name in self._to_register:
                await self.create("nodes", "", self._new_node(name))
                self._to_register.discard(name)
            return
        self._to_register.discard(name)
        if node["metadata"].get("deletionTimestamp"):
            return
        taints = desired_taints(node)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            spec = dict(node.get("spec") or {})
            if taints:
                spec["taints"] = taints
            else:
                spec.pop("taints", None)
            await self.update("nodes", dict(node, spec=spec))
            return  # the update's event brings us back for the status
        status = desired_status(name, node.get("status") or {}, self.config, self.now())
        await self.update_status("nodes", node, status)

    def _new_node(self, name: str) -> base.Obj:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "pilothouse",
                },
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {"podCIDR": _pod_cidr(name), "podCIDRs": [_pod_cidr(name)]},
        }


def _pod_cidr(name: str) -> str:
    return f"10.244.{node_index(name) % 256}.0/24"
