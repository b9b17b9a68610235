"""NodeOperation drains on a simulated two-node cluster (scheduler, kubelets, Deployments,
DaemonSets, PodDisruptionBudgets and the Eviction API's 429s): pods evicted and
rescheduled, DaemonSet pods left alone, a budget blocking until it is relaxed, a budget
outlasting the timeout, and unmanaged pods refused unless forced."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pilothouse import crd
from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import nodeoperation, nodeops
from pilothouse.testing import fixtures
from pilothouse.testing.eventually import eventually_async

KIND = nodeoperation.NodeOperation.kind_info()
PDB = kinds.builtin("policy/v1", "PodDisruptionBudget")
DAEMONSET = kinds.builtin("apps/v1", "DaemonSet")
#: Two nodes, so drained pods have somewhere to go (read by conftest.py).
SIMULATED_NODES = 2
TUNING = nodeops.Tuning(retry_base=0.1, retry_max=0.5, poll_interval=0.1)
LABELS = {"app": "web"}


async def pods_on(client: client_mod.Client, node: str) -> list[dict[str, Any]]:
    listed = await client.list(kinds.POD, None, field_selector=f"spec.nodeName={node}")
    return listed.items


def ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


async def web_on_node_1(client: client_mod.Client, replicas: int) -> None:
    """A Deployment whose pods all run on node-1 (node-2 is cordoned while they are
    scheduled, then opened again so evicted pods have somewhere to go)."""
    await client.patch(nodeops.NODE, "node-2", {"spec": {"unschedulable": True}})
    containers = [{"name": "app", "image": "nginx"}]
    template = {"metadata": {"labels": LABELS}, "spec": {"containers": containers}}
    await client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": LABELS},
                "template": template,
            },
        }
    )

    async def running() -> bool:
        pods = await pods_on(client, "node-1")
        return len([p for p in pods if ready(p)]) == replicas

    await eventually_async(running, timeout=15, message="web running on node-1")
    await client.patch(nodeops.NODE, "node-2", {"spec": {"unschedulable": None}})


async def create_op(client: client_mod.Client, name: str, **spec: Any) -> None:
    await client.create(
        {
            "apiVersion": KIND.api_version,
            "kind": KIND.kind,
            "metadata": {"name": name},
            "spec": spec,
        }
    )


async def wait_status(
    client: client_mod.Client, name: str, check: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        obj: dict[str, Any] = await client.get(KIND, name)
        return obj if check(obj.get("status") or {}) else None

    return await eventually_async(matches, timeout=timeout, message=f"{name} status")


def phase(want: str) -> Callable[[dict[str, Any]], bool]:
    return lambda st: st.get("phase") == want


async def pdb(client: client_mod.Client, min_available: int) -> None:
    await client.apply(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": LABELS}},
        },
        field_manager="test",
    )

    async def computed() -> bool:
        got: dict[str, Any] = await client.get(PDB, "web", "default")
        st = got.get("status") or {}
        healthy = st.get("currentHealthy") or 0
        return st.get("observedGeneration") == got["metadata"]["generation"] and (
            healthy > 0 and healthy == st.get("expectedPods")
        )

    await eventually_async(computed, timeout=10, message="budget status")


async def test_drain_moves_deployment_pods_and_leaves_daemonset_pods(
    ops: client_mod.Client,
) -> None:
    await web_on_node_1(ops, 3)
    await ops.create(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "agent", "image": "busybox"}]},
                },
            },
        }
    )

    async def agents() -> bool:
        pods = await pods_on(ops, "node-1")
        return len([p for p in pods if p["metadata"]["labels"].get("app") == "agent"]) == 1

    await eventually_async(agents, timeout=10, message="DaemonSet pod on node-1")
    web = sorted(
        f"default/{p['metadata']['name']}"
        for p in await pods_on(ops, "node-1")
        if p["metadata"]["name"].startswith("web")
    )
    assert len(web) == 3

    await create_op(ops, "drain", node="node-1", operation="drain")
    done = await wait_status(ops, "drain", phase("Succeeded"), timeout=20)
    st = done["status"]
    assert sorted(st["evictedPods"]) == web
    assert st["progress"] == "3/3 pods evicted"
    assert st["pendingPods"] == []
    assert st["message"] == "node node-1 drained (1 pods left on it)"
    assert st["startTime"] and st["completionTime"]
    assert (await ops.get(nodeops.NODE, "node-1"))["spec"]["unschedulable"] is True

    left = await pods_on(ops, "node-1")
    assert [p["metadata"]["name"].split("-")[0] for p in left] == ["agent"]

    async def rescheduled() -> bool:
        pods = [p for p in await pods_on(ops, "node-2") if p["metadata"]["name"].startswith("web")]
        return len([p for p in pods if ready(p)]) == 3

    await eventually_async(rescheduled, timeout=15, message="web running on node-2")


async def test_drain_waits_for_budget_then_completes(ops: client_mod.Client) -> None:
    await web_on_node_1(ops, 2)
    await pdb(ops, 2)
    await create_op(ops, "drain", node="node-1", operation="drain", drain={"timeout": "60s"})

    def blocked(st: dict[str, Any]) -> bool:
        return (
            st.get("phase") == "Running"
            and "disruption budget web needs 2 healthy pods" in st.get("message", "")
            and len(st.get("pendingPods") or []) == 2
            and (st.get("evictionRetries") or 0) >= 2
        )

    st = (await wait_status(ops, "drain", blocked, timeout=10))["status"]
    assert st["progress"] == "0/2 pods evicted"
    assert st["evictedPods"] == []
    (cond,) = st["conditions"]
    assert (cond["status"], cond["reason"]) == ("Unknown", "Draining")

    # The budget relaxed: one pod at a time may go, each once its replacement is ready.
    await ops.patch(PDB, "web", {"spec": {"minAvailable": 1}}, namespace="default")
    done = await wait_status(ops, "drain", phase("Succeeded"), timeout=20)
    assert done["status"]["progress"] == "2/2 pods evicted"
    assert done["status"]["pendingPods"] == []
    assert await pods_on(ops, "node-1") == []


async def test_drain_times_out_behind_budget(ops: client_mod.Client) -> None:
    await web_on_node_1(ops, 2)
    await pdb(ops, 2)
    await create_op(ops, "drain", node="node-1", operation="drain", drain={"timeout": "2s"})
    done = await wait_status(ops, "drain", phase("Failed"), timeout=10)
    st = done["status"]
    assert st["message"].startswith("drain of node node-1 timed out after 2s: pods still on")
    assert "disruption budget web" in st["message"]
    pods = sorted(f"default/{p['metadata']['name']}" for p in await pods_on(ops, "node-1"))
    assert st["pendingPods"] == pods and len(pods) == 2
    for pod in pods:
        assert pod in st["message"]
    (cond,) = st["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "DrainTimeout")
    # A record: it stays Failed (the budget is relaxed, yet nothing is evicted any more).
    await ops.patch(PDB, "web", {"spec": {"minAvailable": 0}}, namespace="default")
    await create_op(ops, "marker", node="node-2", operation="cordon")
    await wait_status(ops, "marker", phase("Succeeded"), timeout=10)
    assert len(await pods_on(ops, "node-1")) == 2


async def bare_pod(client: client_mod.Client, name: str) -> None:
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "nodeName": "node-1",
                "containers": [{"name": "app", "image": "nginx"}],
                "volumes": [{"name": "scratch", "emptyDir": {}}],
            },
        }
    )


async def test_unmanaged_pods_need_force(ops: client_mod.Client) -> None:
    await bare_pod(ops, "lonely")
    await create_op(ops, "drain", node="node-1", operation="drain")
    done = await wait_status(ops, "drain", phase("Failed"), timeout=10)
    st = done["status"]
    assert st["message"] == (
        "cannot drain node node-1: default/lonely: not managed by a controller (set "
        "drain.force to evict anyway); default/lonely: uses emptyDir volumes (set "
        "drain.deleteEmptyDirData to evict anyway)"
    )
    assert st["conditions"][0]["reason"] == "DrainRefused"
    assert [p["metadata"]["name"] for p in await pods_on(ops, "node-1")] == ["lonely"]

    await create_op(
        ops,
        "drain-forced",
        node="node-1",
        operation="drain",
        drain={"force": True, "deleteEmptyDirData": True, "gracePeriodSeconds": 0},
    )
    done = await wait_status(ops, "drain-forced", phase("Succeeded"), timeout=10)
    assert done["status"]["evictedPods"] == ["default/lonely"]
    assert done["status"]["progress"] == "1/1 pods evicted"
    assert await pods_on(ops, "node-1") == []


async def test_drain_resumes_after_restart(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.apply(crd.definition(nodeoperation.NodeOperation), field_manager="test")
    first = make_manager(functools.partial(nodeops.setup, tuning=TUNING))
    first.start()
    await first.wait_started()
    await web_on_node_1(kube_client, 2)
    await pdb(kube_client, 2)
    await create_op(
        kube_client, "drain", node="node-1", operation="drain", drain={"timeout": "60s"}
    )
    blocked = await wait_status(
        kube_client, "drain", lambda st: (st.get("evictionRetries") or 0) >= 1, timeout=10
    )
    await first.stop()

    # While no controller runs the budget is relaxed; a new controller carries on with the
    # same drain (same start time, so the same deadline) and finishes it.
    await kube_client.patch(PDB, "web", {"spec": {"minAvailable": 1}}, namespace="default")
    second = make_manager(functools.partial(nodeops.setup, tuning=TUNING))
    second.start()
    await second.wait_started()
    done = await wait_status(kube_client, "drain", phase("Succeeded"), timeout=20)
    assert done["status"]["startTime"] == blocked["status"]["startTime"]
    assert done["status"]["progress"] == "2/2 pods evicted"
    assert await pods_on(kube_client, "node-1") == []
