"""Behaviour of the Session lifecycle controller on a simulated one-node cluster: workload
with owner references, phases derived from the pods, hibernate, wake, idle and maximum
duration hibernation, terminate, a missing template, and the printer columns."""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pilothouse.api import kinds
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import common, lifecycle, operator_setup, workload
from pilothouse.runtime import clock as clock_mod
from pilothouse.runtime import conditions
from pilothouse.testing import eventually, fixtures

NS = "default"
Make = Callable[..., fixtures.ManagerHandle]


async def start(make_manager: Make, grace: float = 0.0) -> fixtures.ManagerHandle:
    options = lifecycle.SessionOptions(idle_grace=grace)
    h = make_manager(lambda mgr: operator_setup.setup(mgr, options))
    h.start()
    await h.wait_started()
    return h


def new_session(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": lifecycle.SESSION.api_version,
        "kind": "Session",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"user": "alice", **spec},
    }


async def get(client: client_mod.Client, kind: Any, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = await client.get(kind, name, NS)
        return obj
    except errors.NotFound:
        return None


async def wait_phase(
    client: client_mod.Client, name: str, phase: str, timeout: float = 10.0
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        obj = await get(client, lifecycle.SESSION, name)
        status = (obj or {}).get("status") or {}
        return obj if status.get("phase") == phase else None

    return await eventually.eventually_async(
        reached, timeout=timeout, message=f"session {name} reaching {phase}"
    )


async def set_state(client: client_mod.Client, name: str, state: str) -> None:
    await client.patch(lifecycle.SESSION, name, {"spec": {"state": state}}, namespace=NS)


async def events_for(client: client_mod.Client, name: str, reason: str) -> list[dict[str, Any]]:
    items = (await client.list(kinds.EVENT, NS)).items
    return [e for e in items if e["regarding"]["name"] == name and e["reason"] == reason]


def wake_annotation(when: datetime) -> dict[str, Any]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"annotations": {common.ANNOTATION_WAKE_REQUESTED_AT: stamp}}}


async def test_session_runs_hibernates_wakes_and_terminates(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await start(make_manager)
    await client.create(
        {
            "apiVersion": lifecycle.TEMPLATE.api_version,
            "kind": "SessionTemplate",
            "metadata": {"name": "jupyter", "namespace": NS},
            "spec": {
                "image": "jupyter/base:1",
                "ports": [{"name": "http", "containerPort": 8888}],
                "env": [{"name": "A", "value": "template"}, {"name": "B", "value": "b"}],
            },
        }
    )
    created = await client.create(
        new_session(
            "s1",
            template="jupyter",
            idleTimeout="1h",
            env=[{"name": "A", "value": "session"}],
            resources={"requests": {"cpu": "100m", "memory": "128Mi"}},
            home={"enabled": True, "size": "2Gi"},
        )
    )
    running = await wait_phase(client, "s1", "Running")
    status = running["status"]
    pods = (await client.list(kinds.POD, NS, label_selector=f"{common.LABEL_SESSION}=s1")).items
    assert [p["metadata"]["name"] for p in pods] == [status["podName"]]
    assert status["nodeName"] == pods[0]["spec"]["nodeName"] and status["nodeName"]
    assert status["url"] == "http://session-s1.default.svc.cluster.local:8888"
    assert status["observedGeneration"] == running["metadata"]["generation"]
    assert status["lastReconcileTime"] and status["startedAt"]
    assert conditions.is_true(status["conditions"], "Ready")
    assert "stoppedBy" not in status

    uid = created["metadata"]["uid"]
    dep = await client.get(kinds.DEPLOYMENT, "session-s1", NS)
    svc = await client.get(kinds.SERVICE, "session-s1", NS)
    pvc = await client.get(lifecycle.PVC, "session-s1-home", NS)
    for child in (dep, svc, pvc):
        (ref,) = child["metadata"]["ownerReferences"]
        assert ref["uid"] == uid and ref["controller"] is True and ref["kind"] == "Session"
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "jupyter/base:1"
    assert {e["name"]: e["value"] for e in container["env"]} == {"A": "session", "B": "b"}
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"

    async def storage_ready() -> bool:
        obj = await client.get(lifecycle.SESSION, "s1", NS)
        return conditions.is_true(obj["status"]["conditions"], "StorageReady")

    await eventually.eventually_async(storage_ready)
    assert await events_for(client, "s1", "Running")

    # Hibernate: zero replicas, no pods, the phase follows only once the pod is gone.
    await set_state(client, "s1", "hibernated")
    hibernated = await wait_phase(client, "s1", "Hibernated")
    assert hibernated["status"]["stoppedBy"] == "user"
    assert (await client.get(kinds.DEPLOYMENT, "session-s1", NS))["spec"]["replicas"] == 0
    left = await client.list(kinds.POD, NS, label_selector=f"{common.LABEL_SESSION}=s1")
    assert left.items == []
    assert "podName" not in hibernated["status"] and "url" not in hibernated["status"]
    assert await get(client, lifecycle.PVC, "session-s1-home") is not None

    # The API's wake signal, newer than the hibernation (older ones: see the idle unit tests).
    stopped = datetime.fromisoformat(hibernated["status"]["hibernatedAt"])
    await client.patch(
        lifecycle.SESSION, "s1", wake_annotation(stopped + timedelta(seconds=1)), namespace=NS
    )
    woken = await wait_phase(client, "s1", "Running")
    assert woken["spec"]["state"] == "running" and "stoppedBy" not in woken["status"]
    assert await events_for(client, "s1", "WakeRequested")

    # Terminate: Deployment, Service and the (not kept) home claim are released.
    await set_state(client, "s1", "terminated")
    terminated = await wait_phase(client, "s1", "Terminated")
    assert terminated["status"]["stoppedBy"] == "user"
    assert await get(client, kinds.DEPLOYMENT, "session-s1") is None
    assert await get(client, kinds.SERVICE, "session-s1") is None

    async def claim_gone() -> bool:
        claim = await get(client, lifecycle.PVC, "session-s1-home")
        return claim is None or bool(claim["metadata"].get("deletionTimestamp"))

    await eventually.eventually_async(claim_gone)


async def test_idle_and_max_duration_hibernate_and_a_wake_request_restarts(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await start(make_manager, grace=0.0)
    await client.create(new_session("idle", image="busybox:1", idleTimeout="2s"))
    await client.create(
        new_session(
            "capped",
            image="busybox:1",
            idleTimeout="1h",
            maxSessionDuration="3s",
            home={"enabled": True, "keepOnTerminate": True},
        )
    )
    await wait_phase(client, "idle", "Running")
    hibernated = await wait_phase(client, "idle", "Hibernated")
    assert hibernated["spec"]["state"] == "hibernated"
    assert hibernated["status"]["stoppedBy"] == "idle"
    (event,) = await eventually.eventually_async(lambda: events_for(client, "idle", "IdleTimeout"))
    assert event["type"] == "Normal" and "no activity" in event["note"]

    capped = await wait_phase(client, "capped", "Hibernated")
    assert capped["status"]["stoppedBy"] == "max-duration"
    await eventually.eventually_async(lambda: events_for(client, "capped", "MaxDurationReached"))

    # The API's signal: a connection arrived after the session hibernated.
    await client.patch(
        lifecycle.SESSION,
        "idle",
        wake_annotation(datetime.now(UTC) + timedelta(seconds=1)),
        namespace=NS,
    )
    woken = await wait_phase(client, "idle", "Running")
    assert "stoppedBy" not in woken["status"]

    # keepOnTerminate: the home claim outlives the terminated session's workload.
    await set_state(client, "capped", "terminated")
    await wait_phase(client, "capped", "Terminated")
    claim = await client.get(lifecycle.PVC, "session-capped-home", NS)
    assert not claim["metadata"].get("deletionTimestamp")
    assert await get(client, kinds.DEPLOYMENT, "session-capped") is None


async def test_default_idle_timeout_passes_on_a_fake_clock(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    """Thirty minutes and the default grace minute, without waiting them: the manager's
    FakeClock drives both the requeue timer and the reconciler's time of day."""
    client = sessions_client
    fake = clock_mod.FakeClock()

    def setup(mgr: Any) -> None:
        mgr.clock = fake
        # A status refresh beyond the deadline, so the one armed timer is the idle check.
        operator_setup.setup(mgr, lifecycle.SessionOptions(status_refresh=3600))

    h = make_manager(setup)
    h.start()
    await h.wait_started()
    await client.create(new_session("slow", image="busybox:1"))
    await wait_phase(client, "slow", "Running")

    async def idle_check_scheduled() -> bool:
        deadline = fake.next_deadline()
        return deadline is not None and deadline >= 30 * 60

    # The requeue for the idle deadline is armed (not polled): one timer, ~31 minutes out.
    await eventually.eventually_async(idle_check_scheduled)
    first = fake.next_deadline()
    assert first is not None and first <= 30 * 60 + lifecycle.DEFAULT_IDLE_GRACE + 1

    # A heartbeat 20 minutes in (the sessions API writes status.lastActivity). It causes no
    # reconcile; the armed one finds it and moves the deadline instead of hibernating.
    heartbeat = datetime.now(UTC) + timedelta(minutes=20)
    await client.patch(
        lifecycle.SESSION,
        "slow",
        {"status": {"lastActivity": heartbeat.strftime("%Y-%m-%dT%H:%M:%SZ")}},
        namespace=NS,
        subresource="status",
    )
    fake.advance(first)

    async def moved() -> bool:
        deadline = fake.next_deadline()
        return deadline is not None and deadline > first + 15 * 60

    await eventually.eventually_async(moved)
    kept = await client.get(lifecycle.SESSION, "slow", NS)
    assert kept["spec"]["state"] == "running" and kept["status"]["phase"] == "Running"
    # The controller's status writes leave the API's field alone.
    assert kept["status"]["lastActivity"] == heartbeat.strftime("%Y-%m-%dT%H:%M:%SZ")

    later = fake.next_deadline()
    assert later is not None
    fake.advance(later - fake.now())
    hibernated = await wait_phase(client, "slow", "Hibernated")
    assert hibernated["status"]["stoppedBy"] == "idle"


async def test_missing_template_fails_until_the_template_exists(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await start(make_manager)
    await client.create(new_session("orphan", template="nope"))
    failed = await wait_phase(client, "orphan", "Failed")
    ready = conditions.find_condition(failed["status"]["conditions"], "Ready")
    assert ready is not None and ready["status"] == "False"
    assert ready["reason"] == "TemplateNotFound"
    assert ready["message"] == 'SessionTemplate "nope" not found in namespace "default"'
    (event,) = await eventually.eventually_async(
        lambda: events_for(client, "orphan", "TemplateNotFound")
    )
    assert event["type"] == "Warning"
    assert await get(client, kinds.DEPLOYMENT, workload.workload_name("orphan")) is None

    await client.create(
        {
            "apiVersion": lifecycle.TEMPLATE.api_version,
            "kind": "SessionTemplate",
            "metadata": {"name": "nope", "namespace": NS},
            "spec": {"image": "busybox:1"},
        }
    )
    await wait_phase(client, "orphan", "Running")

    # Deleting the Session deletes what it owns (garbage collection by owner reference).
    await client.delete(lifecycle.SESSION, "orphan", NS)

    async def collected() -> bool:
        return await get(client, kinds.DEPLOYMENT, workload.workload_name("orphan")) is None

    await eventually.eventually_async(collected)


async def test_status_follows_a_replaced_pod(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await start(make_manager)
    await client.create(new_session("moving", image="busybox:1"))
    first = (await wait_phase(client, "moving", "Running"))["status"]["podName"]
    await client.delete(kinds.POD, first, NS, grace_period_seconds=0)

    async def replaced() -> dict[str, Any] | None:
        obj = await client.get(lifecycle.SESSION, "moving", NS)
        status = obj.get("status") or {}
        moved = status.get("phase") == "Running" and status.get("podName") not in (None, first)
        return obj if moved else None

    obj = await eventually.eventually_async(replaced)
    pod = await client.get(kinds.POD, obj["status"]["podName"], NS)
    assert pod["metadata"]["labels"][common.LABEL_SESSION] == "moving"


async def test_printer_columns_in_kubectl(
    sessions_client: client_mod.Client,
    make_manager: Make,
    kube_apiserver: server_mod.APIServer,
    tmp_path: pathlib.Path,
) -> None:
    client = sessions_client
    await start(make_manager)
    await client.create(new_session("shown", image="busybox:1"))
    await wait_phase(client, "shown", "Running")
    kubeconfig = tmp_path / "kubeconfig-0"
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    out = await asyncio.to_thread(
        subprocess.run,
        ["kubectl", "get", "sess", "-n", NS],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    header, row = out.stdout.splitlines()
    assert header.split() == ["NAME", "USER", "STATE", "PHASE", "LAST", "ACTIVITY", "AGE"]
    assert row.split()[:4] == ["shown", "alice", "running", "Running"]
