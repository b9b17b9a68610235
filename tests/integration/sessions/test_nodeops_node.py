"""NodeOperation's instant operations on a simulated two-node cluster: cordon, uncordon,
label, unlabel, taint, untaint; a missing node; the CRD's admission rules; and a finished
operation being a record that a restarted controller does not run again."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from pilothouse import crd
from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import nodeoperation, nodeops
from pilothouse.testing import fixtures
from pilothouse.testing.eventually import eventually_async

KIND = nodeoperation.NodeOperation.kind_info()
#: Two nodes, so drained pods have somewhere to go (read by conftest.py).
SIMULATED_NODES = 2
TUNING = nodeops.Tuning(retry_base=0.1, retry_max=0.5, poll_interval=0.1)


async def run(client: client_mod.Client, name: str, **spec: Any) -> dict[str, Any]:
    """Create a NodeOperation and wait for it to finish; the finished object."""
    await client.create(
        {
            "apiVersion": KIND.api_version,
            "kind": KIND.kind,
            "metadata": {"name": name},
            "spec": spec,
        }
    )

    async def finished() -> dict[str, Any] | None:
        obj: dict[str, Any] = await client.get(KIND, name)
        return obj if (obj.get("status") or {}).get("phase") in nodeops.FINAL else None

    return await eventually_async(finished, timeout=15, message=f"{name} finished")


async def node(client: client_mod.Client, name: str = "node-1") -> dict[str, Any]:
    obj: dict[str, Any] = await client.get(nodeops.NODE, name)
    return obj


def assert_succeeded(obj: dict[str, Any]) -> None:
    st = obj["status"]
    assert st["phase"] == "Succeeded", st
    assert st["startTime"] and st["completionTime"]
    assert st["observedGeneration"] == obj["metadata"]["generation"]
    (cond,) = st["conditions"]
    assert (cond["type"], cond["status"]) == ("Succeeded", "True")


async def test_cordon_and_uncordon(ops: client_mod.Client) -> None:
    done = await run(ops, "cordon", node="node-1", operation="cordon")
    assert_succeeded(done)
    assert done["status"]["message"] == "node node-1 cordoned"
    assert (await node(ops))["spec"]["unschedulable"] is True
    assert not (await node(ops, "node-2"))["spec"].get("unschedulable")

    # Idempotent: cordoning a cordoned node succeeds without changing it.
    rv = (await node(ops))["metadata"]["resourceVersion"]
    assert_succeeded(await run(ops, "cordon-again", node="node-1", operation="cordon"))
    assert (await node(ops))["metadata"]["resourceVersion"] == rv

    assert_succeeded(await run(ops, "uncordon", node="node-1", operation="uncordon"))
    assert not (await node(ops))["spec"].get("unschedulable")


async def test_label_and_unlabel(ops: client_mod.Client) -> None:
    labels = {"pilothouse.dev/pool": "gpu", "tier": "a"}
    done = await run(ops, "label", node="node-2", operation="label", labels=labels)
    assert_succeeded(done)
    got = (await node(ops, "node-2"))["metadata"]["labels"]
    assert got["pilothouse.dev/pool"] == "gpu" and got["tier"] == "a"
    assert got["kubernetes.io/hostname"] == "node-2"  # the node's own labels are kept

    done = await run(ops, "unlabel", node="node-2", operation="unlabel", labelKeys=["tier", "x"])
    assert_succeeded(done)
    got = (await node(ops, "node-2"))["metadata"]["labels"]
    assert "tier" not in got and got["pilothouse.dev/pool"] == "gpu"


async def test_taint_and_untaint(ops: client_mod.Client) -> None:
    taints = [
        {"key": "maintenance", "value": "soon", "effect": "NoSchedule"},
        {"key": "maintenance", "effect": "PreferNoSchedule"},
        {"key": "gpu", "value": "true", "effect": "NoSchedule"},
    ]
    assert_succeeded(await run(ops, "taint", node="node-1", operation="taint", taints=taints))
    got = (await node(ops))["spec"]["taints"]
    assert {(t["key"], t.get("value"), t["effect"]) for t in got} == {
        ("maintenance", "soon", "NoSchedule"),
        ("maintenance", None, "PreferNoSchedule"),
        ("gpu", "true", "NoSchedule"),
    }
    # Same key and effect: the value is replaced, not duplicated.
    retaint = [{"key": "gpu", "value": "false", "effect": "NoSchedule"}]
    assert_succeeded(await run(ops, "retaint", node="node-1", operation="taint", taints=retaint))
    got = (await node(ops))["spec"]["taints"]
    assert [t.get("value") for t in got if t["key"] == "gpu"] == ["false"]

    # By key alone every effect goes; with an effect only that taint.
    untaint = [{"key": "maintenance"}, {"key": "gpu", "effect": "NoExecute"}]
    assert_succeeded(await run(ops, "untaint", node="node-1", operation="untaint", taints=untaint))
    got = (await node(ops))["spec"]["taints"]
    assert [(t["key"], t["effect"]) for t in got] == [("gpu", "NoSchedule")]
    last = [{"key": "gpu", "effect": "NoSchedule"}]
    assert_succeeded(await run(ops, "untaint-2", node="node-1", operation="untaint", taints=last))
    assert not (await node(ops))["spec"].get("taints")


async def test_missing_node_fails(ops: client_mod.Client) -> None:
    done = await run(ops, "ghost", node="node-9", operation="cordon")
    st = done["status"]
    assert st["phase"] == "Failed"
    assert st["message"] == "node 'node-9' does not exist"
    assert st["completionTime"]
    (cond,) = st["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "NodeNotFound")

    async def warned() -> bool:
        events = (await ops.list(kinds.EVENT, None)).items
        return any(
            e.get("reason") == "NodeNotFound"
            and e.get("type") == "Warning"
            and e["regarding"]["name"] == "ghost"
            and e.get("note") == "node 'node-9' does not exist"
            for e in events
        )

    await eventually_async(warned, message="a Warning event about ghost")


async def test_change_the_api_server_refuses_fails(ops: client_mod.Client) -> None:
    done = await run(ops, "bad-value", node="node-1", operation="label", labels={"a": "no spaces"})
    st = done["status"]
    assert st["phase"] == "Failed"
    assert st["message"].startswith("the API server refused: 422")
    assert st["conditions"][0]["reason"] == "Refused"
    assert "a" not in (await node(ops))["metadata"]["labels"]


async def test_admission_rules(ops: client_mod.Client) -> None:
    def op(name: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": KIND.api_version, "kind": KIND.kind, "metadata": {"name": name},
                "spec": spec}  # fmt: skip

    with pytest.raises(errors.Invalid, match="operation label needs labels"):
        await ops.create(op("bad-label", node="node-1", operation="label"))
    with pytest.raises(errors.Invalid, match="each with an effect"):
        await ops.create(op("bad-taint", node="node-1", operation="taint", taints=[{"key": "k"}]))
    with pytest.raises(errors.Invalid, match="timeout"):
        await ops.create(
            op("bad-timeout", node="node-1", operation="drain", drain={"timeout": "5 minutes"})
        )
    with pytest.raises(errors.Invalid):
        await ops.create(op("bad-op", node="node-1", operation="reboot"))

    await run(ops, "immutable", node="node-2", operation="cordon")
    with pytest.raises(errors.Invalid, match="spec is immutable"):
        await ops.patch(KIND, "immutable", {"spec": {"node": "node-1"}})


async def test_finished_operation_is_a_record(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.apply(crd.definition(nodeoperation.NodeOperation), field_manager="test")

    async def nodes_up() -> bool:
        return len((await kube_client.list(nodeops.NODE)).items) == 2

    await eventually_async(nodes_up)
    first = make_manager(functools.partial(nodeops.setup, tuning=TUNING))
    first.start()
    await first.wait_started()
    done = await run(kube_client, "cordon", node="node-1", operation="cordon")
    assert_succeeded(done)
    await first.stop()

    # Someone uncordons the node by hand; a new controller must not cordon it again.
    await kube_client.patch(nodeops.NODE, "node-1", {"spec": {"unschedulable": None}})
    second = make_manager(functools.partial(nodeops.setup, tuning=TUNING))
    second.start()
    await second.wait_started()
    # A later operation, done by the new controller, shows it has run its queue.
    assert_succeeded(await run(kube_client, "marker", node="node-2", operation="label",
                               labels={"marker": "yes"}))  # fmt: skip
    assert not (await node(kube_client))["spec"].get("unschedulable")
    again: dict[str, Any] = await kube_client.get(KIND, "cordon")
    assert again["metadata"]["resourceVersion"] == done["metadata"]["resourceVersion"]
