"""Node maintenance through the sessions API, end to end: the cluster (two simulated
nodes), the sessions operator's manager and the sessions API as three processes.

What it proves, as an admin token over HTTP:

* ``POST /api/v1/nodes/{name}/operations`` cordon: the NodeOperation Succeeds, and both
  ``GET /api/v1/nodes`` and the Node itself (Kubernetes client) show the node
  unschedulable; a session created afterwards lands on the other node; uncordon opens
  the node again.
* A drain of the node hosting a session's pod while a PodDisruptionBudget (policy/v1,
  ``minAvailable: 1`` over the session's pod) forbids the eviction: the NodeOperation
  stays Running with the pod pending and the budget's refusal in its status, the node is
  already cordoned, and the session keeps running. Once the budget is relaxed
  (``maxUnavailable: 1``) the drain completes (Succeeded, the pod listed as evicted), the
  node stays unschedulable, and the session's pod is recreated on the other node and the
  session is Running again.
* A non-admin token gets 403 on the nodes routes (and creates no NodeOperation).
"""

from __future__ import annotations

import pathlib
from typing import Any

import httpx
import sessions_e2e_kit as kit

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import common, nodeoperation
from pilothouse.operators.sessions import session as session_mod
from pilothouse.testing import eventually

SESSION = session_mod.Session.kind_info()
NODE_OPERATION = nodeoperation.NodeOperation.kind_info()
_NODE = kinds.builtin("v1", "Node")
_PDB = kinds.builtin("policy/v1", "PodDisruptionBudget")
assert _NODE is not None and _PDB is not None
NODE: kinds.Kind = _NODE
PDB: kinds.Kind = _PDB
NS = "default"

Obj = dict[str, Any]


async def operate(admin: httpx.AsyncClient, node: str, operation: str, **extra: Any) -> str:
    """Ask for a NodeOperation through the API; its name."""
    response = await admin.post(
        f"/api/v1/nodes/{node}/operations", json={"operation": operation, **extra}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["node"] == node and body["operation"] == operation, body
    assert response.headers["Location"] == f"/api/v1/nodes/{node}/operations/{body['name']}"
    name: str = body["name"]
    return name


async def wait_operation(
    admin: httpx.AsyncClient, node: str, name: str, phase: str, stack: kit.Stack
) -> Obj:
    """Poll the operation through the API until it reports ``phase``."""

    async def reached() -> Obj | None:
        response = await admin.get(f"/api/v1/nodes/{node}/operations/{name}")
        assert response.status_code == 200, response.text
        body: Obj = response.json()
        return body if body["phase"] == phase else None

    try:
        return await eventually.eventually_async(reached, timeout=45, interval=0.1, message=name)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


async def schedulable(admin: httpx.AsyncClient) -> dict[str, bool]:
    response = await admin.get("/api/v1/nodes")
    assert response.status_code == 200, response.text
    return {n["name"]: n["schedulable"] for n in response.json()}


async def running_on(
    api: httpx.AsyncClient, kube: client_mod.Client, name: str, stack: kit.Stack
) -> tuple[str, str]:
    """Wait until session ``name`` is Running with one live pod; (pod, node)."""

    async def check() -> tuple[str, str] | None:
        response = await api.get(f"/api/v1/sessions/{name}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["phase"] != "Running":
            return None
        selector = f"{common.LABEL_SESSION}={name}"
        pods = (await kube.list(kinds.POD, NS, label_selector=selector)).items
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(live) != 1 or live[0]["spec"].get("nodeName") != body["nodeName"]:
            return None
        return live[0]["metadata"]["name"], body["nodeName"]

    try:
        return await eventually.eventually_async(check, timeout=45, interval=0.1, message=name)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


async def test_cordon_and_drain_through_the_sessions_api(tmp_path: pathlib.Path) -> None:
    with kit.Stack(tmp_path, 2) as stack:
        assert stack.api is not None
        kube = await stack.kube()
        try:
            async with (
                stack.api.client(kit.ADMIN_TOKEN) as admin,
                stack.api.client(kit.USER_TOKEN) as alice,
            ):
                await scenario(stack, kube, admin, alice)
        finally:
            await kube.close()
        # A clean stop of all three.
        assert stack.close() == [0, 0, 0], stack.logs()


async def scenario(
    stack: kit.Stack, kube: client_mod.Client, admin: httpx.AsyncClient, alice: httpx.AsyncClient
) -> None:
    await kit.apply(kube, kit.template())

    # Only admins see and operate nodes.
    assert (await alice.get("/api/v1/nodes")).status_code == 403
    denied = await alice.post("/api/v1/nodes/node-1/operations", json={"operation": "cordon"})
    assert denied.status_code == 403, denied.text
    assert (await kube.list(NODE_OPERATION)).items == []
    assert await schedulable(admin) == {"node-1": True, "node-2": True}

    # Cordon node-1: the record Succeeds, the node is unschedulable (API and Node).
    op = await operate(admin, "node-1", "cordon")
    done = await wait_operation(admin, "node-1", op, "Succeeded", stack)
    assert done["message"] == "node node-1 cordoned", done
    assert await schedulable(admin) == {"node-1": False, "node-2": True}
    node: Obj = await kube.get(NODE, "node-1")
    assert node["spec"]["unschedulable"] is True

    # A session created now can only land on node-2.
    created = await alice.post("/api/v1/sessions", json={"name": "ws", "template": "python"})
    assert created.status_code == 202, created.text
    pod, where = await running_on(alice, kube, "ws", stack)
    assert where == "node-2"

    op = await operate(admin, "node-1", "uncordon")
    await wait_operation(admin, "node-1", op, "Succeeded", stack)
    assert await schedulable(admin) == {"node-1": True, "node-2": True}
    node = await kube.get(NODE, "node-1")
    assert not node["spec"].get("unschedulable")

    # A budget that allows no disruption of the session's pod.
    await kube.apply(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "ws", "namespace": NS},
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": {common.LABEL_SESSION: "ws"}},
            },
        },
        field_manager="e2e-test",
    )

    async def budget_computed() -> bool:
        got: Obj = await kube.get(PDB, "ws", NS)
        st = got.get("status") or {}
        return (
            st.get("observedGeneration") == got["metadata"]["generation"]
            and st.get("currentHealthy") == 1
            and st.get("disruptionsAllowed") == 0
        )

    await eventually.eventually_async(budget_computed, timeout=15, message="budget status")

    # Drain node-2: blocked by the budget, the operation stays Running with the pod pending.
    drain = await operate(admin, "node-2", "drain", drain={"timeout": "2m"})

    async def blocked() -> Obj | None:
        obj: Obj = await kube.get(NODE_OPERATION, drain)
        st = obj.get("status") or {}
        if st.get("phase") == "Running" and st.get("pendingPods") == [f"{NS}/{pod}"]:
            return st
        return None

    st = await eventually.eventually_async(blocked, timeout=30, message="drain blocked")
    assert st["evictedPods"] == [] and st["progress"] == "0/1 pods evicted", st
    assert "eviction refused" in st["message"], st
    seen = await admin.get(f"/api/v1/nodes/node-2/operations/{drain}")
    assert seen.json()["phase"] == "Running", seen.text
    assert await schedulable(admin) == {"node-1": True, "node-2": False}
    assert await running_on(alice, kube, "ws", stack) == (pod, "node-2")

    # Allow one disruption: the drain completes and the session moves to node-1.
    await kube.patch(PDB, "ws", {"spec": {"minAvailable": None, "maxUnavailable": 1}}, namespace=NS)
    done = await wait_operation(admin, "node-2", drain, "Succeeded", stack)
    assert done["progress"] == "1/1 pods evicted", done
    record: Obj = await kube.get(NODE_OPERATION, drain)
    assert record["status"]["evictedPods"] == [f"{NS}/{pod}"], record["status"]
    assert record["status"]["pendingPods"] == [], record["status"]
    assert await schedulable(admin) == {"node-1": True, "node-2": False}
    node = await kube.get(NODE, "node-2")
    assert node["spec"]["unschedulable"] is True

    moved, where = await running_on(alice, kube, "ws", stack)
    assert where == "node-1" and moved != pod
    sess: Obj = await kube.get(SESSION, "ws", NS)
    assert sess["spec"]["state"] == "running" and sess["status"]["podName"] == moved

    # Still refused to non-admins, and their attempts left no operation behind.
    refused = await alice.post("/api/v1/nodes/node-2/operations", json={"operation": "uncordon"})
    assert refused.status_code == 403, refused.text
    ops = sorted(o["spec"]["operation"] for o in (await kube.list(NODE_OPERATION)).items)
    assert ops == ["cordon", "drain", "uncordon"]
