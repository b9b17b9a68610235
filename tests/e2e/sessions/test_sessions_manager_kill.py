"""kill -9 of the sessions operator's manager converges: the cluster (``pilothouse cluster
up``), the manager (``pilothouse run --controllers sessions --register-webhooks``) and the
sessions API (``pilothouse sessions-api``) run as three processes, driven over HTTP.

What it proves:

* The manager is SIGKILLed right after four changes were accepted (terminate one session,
  hibernate another, a connection waking a third, the create of a fourth), before it
  could carry them out (the created session is not Running yet: simulated pods take
  0.3 s to start). While it is down its webhooks fail closed: the API answers a create,
  a resume and a connection to a hibernated session (its wake annotation is a Session
  write) with 502 naming the failed webhook call, and changes nothing; heartbeats still
  answer 204 and reach ``status.lastActivity`` (a status write, not sent to the
  webhooks); reads work. Restarted, the manager converges every session to its desired
  state -- phases, ``stoppedBy``, Deployment replicas 1/0, pods present or absent, the
  terminated session's Deployment and Service gone -- with exactly one Deployment,
  ReplicaSet and Service per live session, and the heartbeat written while it was down
  kept.
* The manager is SIGKILLed while a wake is pending: a connection to a hibernated session
  asked for it (the ``wake-requested-at`` annotation on the Session, newer than
  ``hibernatedAt``), and the controller could not carry it out because the user's quota
  was full (a ``WakeDenied`` event; the spec still says hibernated). With the quota raised
  while the manager is down, the restarted manager honours the request found on the
  Session: the session runs again (``WakeRequested``), nothing was lost with the process.
  (The first kill also lands right after a connection's wake request; whether the
  controller had already set that session running is a race, the outcome is the same.)
* After the restarts, the quota webhook (answered from the new manager's cache) refuses
  a session over the per-user limit with 403 and the limit in the message; after a clean
  stop (SIGTERM) of the manager its registered webhooks stay and fail closed, so the
  quota cannot be bypassed by stopping the manager either.

Idle hibernation across processes is in ``test_sessions_api_process.py`` (with
``PILOTHOUSE_SESSIONS_IDLE_GRACE=0s``); here every session's idle timeout is the default.
"""

from __future__ import annotations

import pathlib
from typing import Any

import httpx
import sessions_e2e_kit as kit

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import common, idle
from pilothouse.operators.sessions import session as session_mod
from pilothouse.testing import eventually

SESSION = session_mod.Session.kind_info()
_RS = kinds.builtin("apps/v1", "ReplicaSet")
assert _RS is not None
REPLICASET: kinds.Kind = _RS
NS = "default"
#: Per-user session limit: the scenario never runs more than this many at once.
LIMIT = 3

Obj = dict[str, Any]


async def get(kube: client_mod.Client, kind: kinds.Kind, name: str) -> Obj | None:
    try:
        obj: Obj = await kube.get(kind, name, NS)
    except errors.NotFound:
        return None
    return obj


async def observed(kube: client_mod.Client, name: str) -> dict[str, Any]:
    """What the cluster says about session ``name``: the comparable facts."""
    sess = await get(kube, SESSION, name)
    assert sess is not None, f"session {name} is gone"
    status = sess.get("status") or {}
    selector = f"{common.LABEL_SESSION}={name}"
    pods = (await kube.list(kinds.POD, NS, label_selector=selector)).items
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [
        p
        for p in live
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    ]
    deployment = await get(kube, kinds.DEPLOYMENT, f"session-{name}")
    service = await get(kube, kinds.SERVICE, f"session-{name}")
    return {
        "state": sess["spec"].get("state"),
        "phase": status.get("phase"),
        "stoppedBy": status.get("stoppedBy"),
        "replicas": None if deployment is None else deployment["spec"].get("replicas"),
        "service": service is not None,
        "pods": len(pods),
        "ready pods": len(ready),
    }


RUNNING = {
    "state": "running",
    "phase": "Running",
    "stoppedBy": None,
    "replicas": 1,
    "service": True,
    "pods": 1,
    "ready pods": 1,
}
HIBERNATED = {
    "state": "hibernated",
    "phase": "Hibernated",
    "stoppedBy": "user",
    "replicas": 0,
    "service": True,
    "pods": 0,
    "ready pods": 0,
}
TERMINATED = {
    "state": "terminated",
    "phase": "Terminated",
    "stoppedBy": "user",
    "replicas": None,
    "service": False,
    "pods": 0,
    "ready pods": 0,
}


async def converge(
    kube: client_mod.Client, want: dict[str, dict[str, Any]], stack: kit.Stack
) -> None:
    """Wait until every session in ``want`` is as described."""

    async def check() -> bool:
        got = {name: await observed(kube, name) for name in want}
        assert got == want, f"sessions: {got}"
        return True

    try:
        await eventually.eventually_async(check, timeout=45, interval=0.1, message="converged")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


async def no_duplicate_children(kube: client_mod.Client, live: set[str]) -> None:
    """One Deployment, one ReplicaSet and one Service per non-terminated session, no
    more: a restart re-applies children, it never makes new ones."""
    deployments = (await kube.list(kinds.DEPLOYMENT, NS)).items
    services = (await kube.list(kinds.SERVICE, NS)).items
    sets = (await kube.list(REPLICASET, NS)).items
    expected = sorted(f"session-{name}" for name in live)
    assert sorted(d["metadata"]["name"] for d in deployments) == expected
    names = sorted(s["metadata"]["name"] for s in services)
    assert [n for n in names if n != "kubernetes"] == expected
    owners = sorted(
        ref["name"] for rs in sets for ref in rs["metadata"].get("ownerReferences") or []
    )
    assert owners == expected, owners


def quota(sessions: int) -> Obj:
    return {
        "apiVersion": kit.GROUP,
        "kind": "SessionQuota",
        "metadata": {"name": "team", "namespace": NS},
        "spec": {"perUser": {"sessions": sessions}},
    }


async def events_for(kube: client_mod.Client, name: str, reason: str) -> list[Obj]:
    items = (await kube.list(kinds.EVENT, NS)).items
    return [e for e in items if e["regarding"]["name"] == name and e["reason"] == reason]


async def create(api: httpx.AsyncClient, name: str, state: str = "running") -> None:
    body = {"name": name, "template": "python", "state": state}
    response = await api.post("/api/v1/sessions", json=body)
    assert response.status_code == 202, response.text


async def phase(api: httpx.AsyncClient, name: str) -> str | None:
    response = await api.get(f"/api/v1/sessions/{name}")
    assert response.status_code == 200, response.text
    value: str | None = response.json().get("phase")
    return value


async def wait_phase(api: httpx.AsyncClient, name: str, want: str, stack: kit.Stack) -> None:
    async def reached() -> bool:
        return await phase(api, name) == want

    try:
        await eventually.eventually_async(reached, timeout=45, interval=0.1, message=name)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {await phase(api, name)}\n{stack.logs()}") from None


def refused_by_webhook(response: httpx.Response) -> None:
    """What the API answers for a Session write while the manager (and so its webhook
    server) is down: the API server's 500 for a failed webhook call, as a 502."""
    assert response.status_code == 502, response.text
    assert "failed calling webhook" in response.text, response.text


async def test_sigkill_of_the_manager_converges_after_restart(tmp_path: pathlib.Path) -> None:
    with kit.Stack(tmp_path, 1, "--pod-start-delay", "0.3") as stack:
        assert stack.manager is not None and stack.api is not None
        manager = stack.manager
        kube = await stack.kube()
        try:
            async with stack.api.client(kit.USER_TOKEN) as api:
                await scenario(stack, manager, kube, api)
        finally:
            await kube.close()
        # A clean stop of all three.
        assert stack.close() == [0, 0, 0], stack.logs()


async def scenario(
    stack: kit.Stack, manager: kit.Manager, kube: client_mod.Client, api: httpx.AsyncClient
) -> None:
    await kit.apply(kube, kit.template())
    await kit.apply(kube, quota(LIMIT))
    for name, state in (("hib", "running"), ("term", "running"), ("wake", "hibernated")):
        await create(api, name, state)
    await converge(kube, {"hib": RUNNING, "term": RUNNING, "wake": HIBERNATED}, stack)

    # Heartbeats reach status.lastActivity (coalesced by the API).
    assert (await api.post("/api/v1/sessions/hib/heartbeat")).status_code == 204

    async def activity(name: str) -> str | None:
        value: str | None = (await api.get(f"/api/v1/sessions/{name}")).json()["lastActivity"]
        return value

    await eventually.eventually_async(lambda: activity("hib"), timeout=10, message="heartbeat")

    # --- kill -9 with four changes accepted but not carried out --------------------------
    assert (await api.delete("/api/v1/sessions/term")).status_code == 202
    assert (await api.post("/api/v1/sessions/hib/hibernate")).status_code == 202
    opened = await api.post("/api/v1/sessions/wake/connections", json={"client": "ide"})
    assert opened.status_code == 201 and opened.json()["woke"] is True, opened.text
    await create(api, "new")
    manager.kill()
    # The new session cannot be Running yet: its pod takes 0.3 s to start, and only the
    # (now dead) manager writes the phase.
    assert (await observed(kube, "new"))["phase"] != "Running"

    # While the manager is down its webhooks fail closed: Session writes are refused...
    refused_by_webhook(
        await api.post("/api/v1/sessions", json={"name": "down", "template": "python"})
    )
    refused_by_webhook(await api.post("/api/v1/sessions/hib/resume"))
    # A connection to a hibernated session cannot leave its wake request (an annotation
    # on the Session) either: refused, not silently lost.
    refused_by_webhook(await api.post("/api/v1/sessions/hib/connections", json={}))
    assert (await api.get("/api/v1/sessions/down")).status_code == 404
    hib = await get(kube, SESSION, "hib")
    assert hib is not None and hib["spec"]["state"] == "hibernated"
    # ... but heartbeats (status writes) go through, and reads work.
    assert (await api.post("/api/v1/sessions/new/heartbeat")).status_code == 204
    beat = await eventually.eventually_async(
        lambda: activity("new"), timeout=10, message="heartbeat while the manager is down"
    )
    listed = await api.get("/api/v1/sessions")
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()["items"]] == ["hib", "new", "term", "wake"]

    manager.start()
    await converge(
        kube, {"hib": HIBERNATED, "term": TERMINATED, "wake": RUNNING, "new": RUNNING}, stack
    )
    await no_duplicate_children(kube, {"hib", "wake", "new"})
    # The controller's status writes did not take the API's lastActivity away.
    assert await activity("new") == beat
    wake = await get(kube, SESSION, "wake")
    assert wake is not None and common.ANNOTATION_WAKE_REQUESTED_AT in wake["metadata"].get(
        "annotations", {}
    )

    # --- kill -9 while a wake request waits on the Session ------------------------------
    # A third running session fills alice's quota, so the controller's attempt to carry
    # out the wake of "hib" is refused (WakeDenied): the request is still pending, on the
    # Session, when the manager dies.
    await create(api, "extra")
    await converge(kube, {"extra": RUNNING}, stack)
    opened = await api.post("/api/v1/sessions/hib/connections", json={})
    assert opened.status_code == 201 and opened.json()["woke"] is True, opened.text
    denied = await eventually.eventually_async(
        lambda: events_for(kube, "hib", "WakeDenied"), timeout=15, message="WakeDenied"
    )
    assert f"over the limit of {LIMIT}" in denied[0]["note"], denied[0]
    manager.kill()
    hib = await get(kube, SESSION, "hib")
    assert hib is not None and hib["spec"]["state"] == "hibernated"
    assert hib["status"]["phase"] == "Hibernated"
    # The request is on the Session itself, newer than the hibernation it undoes.
    wake_at = hib["metadata"]["annotations"][common.ANNOTATION_WAKE_REQUESTED_AT]
    requested, stopped = idle.parse_time(wake_at), idle.parse_time(hib["status"]["hibernatedAt"])
    assert requested is not None and stopped is not None and requested > stopped
    # While the manager is down, quota is raised (SessionQuotas are not webhooked).
    await kit.apply(kube, quota(LIMIT + 1))

    manager.start()
    everything = {"term": TERMINATED, "wake": RUNNING, "new": RUNNING, "extra": RUNNING}
    await converge(kube, {"hib": RUNNING, **everything}, stack)
    await no_duplicate_children(kube, {"hib", "wake", "new", "extra"})
    hib = await get(kube, SESSION, "hib")
    assert hib is not None
    assert hib["metadata"]["annotations"][common.ANNOTATION_WAKE_REQUESTED_AT] == wake_at
    await eventually.eventually_async(
        lambda: events_for(kube, "hib", "WakeRequested"), timeout=15, message="WakeRequested"
    )

    # The restarted manager's quota webhook counts the sessions it found: one more
    # running session is over the (raised) limit.
    over = await api.post("/api/v1/sessions", json={"name": "over", "template": "python"})
    assert over.status_code == 403, over.text
    assert f"over the limit of {LIMIT + 1}" in over.text, over.text
    assert (await api.get("/api/v1/sessions/over")).status_code == 404

    # A clean stop is no way around the quota either: the registered webhooks stay, and
    # fail closed, until the next manager serves them again.
    assert manager.stop() == 0, stack.logs()
    refused_by_webhook(
        await api.post("/api/v1/sessions", json={"name": "over", "template": "python"})
    )
