"""The simulated scheduler's filters, scoring and failure message (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.apiserver.simulation import nodes, scheduler
from pilothouse.apiserver.simulation.base import SimulationConfig


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", **spec: Any) -> Any:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": name[-1]}},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}},
    }


def pod(cpu: str = "", memory: str = "", **spec: Any) -> Any:
    req = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": req}}], **spec},
    }


def test_quantities() -> None:
    assert scheduler.quantity("250m", milli=True) == 250
    assert scheduler.quantity("1.5", milli=True) == 1500
    assert scheduler.quantity("1Gi") == 1024**3
    assert scheduler.quantity("1k") == 1000
    assert scheduler.quantity("bogus") == 0


def test_pod_requests_init_and_overhead() -> None:
    p = pod(cpu="200m", memory="1Gi")
    p["spec"]["containers"].append({"name": "d", "resources": {"requests": {"cpu": "300m"}}})
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
    p["spec"]["overhead"] = {"cpu": "10m"}
    assert scheduler.pod_requests(p) == {"cpu": 1010, "memory": 1024**3}


@pytest.mark.parametrize(
    ("op", "values", "label", "fits"),
    [
        ("In", ["1", "2"], "zone", True),
        ("In", ["3"], "zone", False),
        ("NotIn", ["1"], "zone", False),
        ("NotIn", ["1"], "absent", True),
        ("Exists", [], "zone", True),
        ("DoesNotExist", [], "zone", False),
        ("Gt", ["0"], "zone", True),
        ("Lt", ["1"], "zone", False),
        ("Gt", ["x"], "zone", False),
    ],
)
def test_affinity_operators(op: str, values: list[str], label: str, fits: bool) -> None:
    expr = {"key": label, "operator": op, "values": values}
    aff = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expr]}]
            }
        }
    }
    assert scheduler.affinity_matches(pod(affinity=aff), node("node-1")) is fits


def test_terms_are_ored_and_empty_term_matches_nothing() -> None:
    terms = [{}, {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]
    aff = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }
    assert scheduler.affinity_matches(pod(affinity=aff), node("n2"))
    assert not scheduler.affinity_matches(pod(affinity=aff), node("n1"))


def test_tolerations() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert scheduler.tolerates({"key": "k", "operator": "Equal", "value": "v"}, taint)
    assert not scheduler.tolerates({"key": "k", "value": "w"}, taint)
    assert scheduler.tolerates({"operator": "Exists"}, taint)
    assert not scheduler.tolerates({"key": "k", "operator": "Exists", "effect": "NoExecute"}, taint)
    prefer = node("n", taints=[{"key": "k", "effect": "PreferNoSchedule"}])
    assert scheduler.filter_node(pod(), prefer, []) == []


def test_resources_and_pod_count() -> None:
    n = node("n", cpu="1", memory="1Gi", pods="2")
    bound = [pod(cpu="600m"), pod(cpu="300m", memory="1Gi")]
    assert scheduler.filter_node(pod(cpu="200m", memory="1"), n, bound) == [
        "Too many pods",
        "Insufficient cpu",
        "Insufficient memory",
    ]
    done = pod(cpu="1")
    done["status"] = {"phase": "Succeeded"}
    assert scheduler.filter_node(pod(cpu="1"), n, [done]) == []


def test_schedule_spreads_and_explains() -> None:
    ns = [node("node-1"), node("node-2"), node("node-3", cpu="1")]
    busy = {"node-1": [pod(), pod()], "node-2": [pod()]}
    chosen, _ = scheduler.schedule(pod(), ns, busy)
    assert chosen == "node-2"  # least allocated among the big nodes
    chosen, msg = scheduler.schedule(pod(cpu="2", nodeSelector={"zone": "3"}), ns, busy)
    assert chosen is None
    assert msg == (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't match Pod's node affinity/selector."
    )
    cordoned = [node("node-1", unschedulable=True)]
    assert scheduler.schedule(pod(), cordoned, {})[1] == (
        "0/1 nodes are available: 1 node(s) were unschedulable."
    )
    assert scheduler.schedule(pod(), [], {}) == (None, "0/0 nodes are available.")


def test_node_lifecycle_taints() -> None:
    n = node("n", unschedulable=True)
    assert nodes.desired_taints(n) == [
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    ]
    n["spec"] = {"taints": nodes.desired_taints(n)}
    assert nodes.desired_taints(n) == []
    n["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert nodes.desired_taints(n) == [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
    ]


def test_node_status_fills_only_missing() -> None:
    cfg = SimulationConfig(nodes=2)
    current = {"conditions": [{"type": "Ready", "status": "False"}]}
    st = nodes.desired_status("node-2", current, cfg, "2025-01-01T00:00:00Z")
    ready = [c for c in st["conditions"] if c["type"] == "Ready"]
    assert ready == [{"type": "Ready", "status": "False"}]
    assert st["capacity"]["pods"] == "110"
    assert st["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.3"}
