"""The whole sessions operator (controllers and webhooks in one manager): a wake-up that the
quota refuses leaves the session hibernated with a ``WakeDenied`` event, and a later wake
request succeeds once quota has been freed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pilothouse import crd
from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import common, lifecycle
from pilothouse.operators.sessions import operator as operator_mod
from pilothouse.testing import eventually, fixtures

NS = "default"
Make = Callable[..., fixtures.ManagerHandle]
API_VERSION = lifecycle.SESSION.api_version


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


async def phase(client: client_mod.Client, name: str) -> str | None:
    found = await client.get(lifecycle.SESSION, name, NS)
    value: str | None = (found.get("status") or {}).get("phase")
    return value


async def wait_phase(client: client_mod.Client, name: str, want: str) -> None:
    async def reached() -> bool:
        return await phase(client, name) == want

    await eventually.eventually_async(reached, timeout=20, message=f"{name} {want}")


async def wake(client: client_mod.Client, name: str, when: datetime) -> None:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"metadata": {"annotations": {common.ANNOTATION_WAKE_REQUESTED_AT: stamp}}}
    await client.patch(lifecycle.SESSION, name, patch, namespace=NS)


async def test_a_wake_over_quota_waits_until_quota_frees(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    for model in operator_mod.OPERATOR.crds:  # NodeOperation too: the operator watches it
        await client.apply(crd.definition(model), field_manager="test", force=True)
    await client.create(obj("SessionTemplate", "py", {"image": "python:3.12"}))
    await client.create(obj("SessionQuota", "team", {"perUser": {"sessions": 1}}))
    h = make_manager(operator_mod.setup, webhook_port=0, webhook_register=True)
    h.start()
    await h.wait_started()

    async def registered() -> bool:
        return bool(h.manager.webhooks_registered)

    await eventually.eventually_async(registered, message="webhooks registered")

    await client.create(obj("Session", "s1", {"user": "alice", "template": "py"}))
    await wait_phase(client, "s1", "Running")
    await client.patch(lifecycle.SESSION, "s1", {"spec": {"state": "hibernated"}}, namespace=NS)
    await wait_phase(client, "s1", "Hibernated")

    async def s2_created() -> bool:
        # The webhook answers from its cache: retry until it has seen s1 hibernated.
        try:
            await client.create(obj("Session", "s2", {"user": "alice", "template": "py"}))
        except Exception as exc:
            assert "over the limit" in str(exc), exc
            return False
        return True

    await eventually.eventually_async(s2_created, timeout=20, message="s2 admitted")
    await wait_phase(client, "s2", "Running")

    # A connection arrives for s1: over quota, it stays hibernated and says why.
    await wake(client, "s1", datetime.now(UTC) + timedelta(seconds=1))

    async def denied_event() -> list[dict[str, Any]]:
        events = (await client.list(kinds.EVENT, NS)).items
        return [e for e in events if e["regarding"]["name"] == "s1" and e["reason"] == "WakeDenied"]

    found = await eventually.eventually_async(denied_event, timeout=20)
    assert "over the limit of 1" in found[0]["note"], found[0]
    stored = await client.get(lifecycle.SESSION, "s1", NS)
    assert stored["spec"]["state"] == "hibernated"
    assert await phase(client, "s1") == "Hibernated"

    # s2 ends; the next wake request for s1 goes through.
    await client.patch(lifecycle.SESSION, "s2", {"spec": {"state": "terminated"}}, namespace=NS)
    await wait_phase(client, "s2", "Terminated")

    async def woke() -> bool:
        await wake(client, "s1", datetime.now(UTC) + timedelta(seconds=2))
        stored = await client.get(lifecycle.SESSION, "s1", NS)
        return bool(stored["spec"]["state"] == "running")

    await eventually.eventually_async(woke, timeout=20, interval=0.5, message="s1 woken")
    await wait_phase(client, "s1", "Running")
