"""EventRecorder against the embedded API server: series aggregation, rate limiting, and
never blocking or raising into the caller."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from pilothouse.api.kinds import EVENT, NAMESPACE
from pilothouse.client import errors
from pilothouse.client.client import Client
from pilothouse.runtime.clock import FakeClock
from pilothouse.runtime.events import EventRecorder

NS = "default"
MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


async def regarding(client: Client) -> dict[str, Any]:
    obj: dict[str, Any] = await client.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{uuid.uuid4().hex[:8]}", "namespace": NS},
        }
    )
    return obj


async def events_about(client: Client, obj: dict[str, Any]) -> list[dict[str, Any]]:
    page = await client.list(EVENT, NS)
    return [e for e in page.items if e["regarding"]["name"] == obj["metadata"]["name"]]


async def test_event_shape(client: Client) -> None:
    obj = await regarding(client)
    async with EventRecorder(client, "example.com/operator", "pod-0") as rec:
        rec.normal(obj, "Created", "Reconcile", "created the thing")
        await rec.flush()
        [event] = await events_about(client, obj)
    assert event["type"] == "Normal"
    assert (event["reason"], event["action"], event["note"]) == (
        "Created",
        "Reconcile",
        "created the thing",
    )
    assert event["reportingController"] == "example.com/operator"
    assert event["reportingInstance"] == "pod-0"
    assert MICRO.fullmatch(event["eventTime"])
    ref = event["regarding"]
    assert (ref["kind"], ref["name"], ref["namespace"], ref["uid"]) == (
        "ConfigMap",
        obj["metadata"]["name"],
        NS,
        obj["metadata"]["uid"],
    )
    assert event["metadata"]["name"].startswith(obj["metadata"]["name"] + ".")
    assert not event.get("series")


async def test_identical_events_aggregate_into_a_series(client: Client) -> None:
    obj = await regarding(client)
    async with EventRecorder(client, "example.com/operator", "pod-0") as rec:
        rec.warning(obj, "Failed", "Sync", "backend down")
        await rec.flush()
        for _ in range(4):  # queued together: coalesced into one PATCH
            rec.warning(obj, "Failed", "Sync", "backend down")
        await rec.flush()
        rec.warning(obj, "Failed", "Sync", "backend down")
        await rec.flush()
        rec.warning(obj, "Failed", "Sync", "another note")  # a different event
        await rec.flush()
        events = await events_about(client, obj)
        assert rec.failed == 0 and rec.dropped == 0
    by_note = {e["note"]: e for e in events}
    assert set(by_note) == {"backend down", "another note"}
    series = by_note["backend down"]["series"]
    assert series["count"] == 6
    assert MICRO.fullmatch(series["lastObservedTime"])
    assert not by_note["another note"].get("series")


async def test_series_restarts_after_the_window_or_when_the_event_is_gone(client: Client) -> None:
    obj = await regarding(client)
    clock = FakeClock()
    async with EventRecorder(client, "c.io/op", "i", clock=clock, series_window=60) as rec:
        rec.normal(obj, "Synced", "Sync")
        await rec.flush()
        clock.advance(61)
        rec.normal(obj, "Synced", "Sync")  # outside the window: a new Event
        await rec.flush()
        assert len(await events_about(client, obj)) == 2
        for event in await events_about(client, obj):
            await client.delete(EVENT, event["metadata"]["name"], NS)
        rec.normal(obj, "Synced", "Sync")  # the series' Event expired: create again
        await rec.flush()
        [event] = await events_about(client, obj)
        assert not event.get("series")
        assert rec.failed == 0


async def test_rate_limit_per_object(client: Client) -> None:
    noisy, quiet = await regarding(client), await regarding(client)
    clock = FakeClock()
    async with EventRecorder(
        client, "c.io/op", "i", clock=clock, burst=3, refill_interval=300
    ) as rec:
        for i in range(10):
            rec.normal(noisy, f"Step{i}", "Loop")
        rec.normal(quiet, "Once", "Loop")
        await rec.flush()
        assert rec.dropped == 7
        assert len(await events_about(client, noisy)) == 3
        assert len(await events_about(client, quiet)) == 1
        clock.advance(300)  # one token back
        rec.normal(noisy, "Later", "Loop")
        rec.normal(noisy, "TooSoon", "Loop")
        await rec.flush()
        assert {e["reason"] for e in await events_about(client, noisy)} >= {"Later"}
        assert rec.dropped == 8


class HangingClient:
    """A client whose writes block until released, or fail when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = asyncio.Event()
        self.fail = fail
        self.created: list[dict[str, Any]] = []

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self.gate.wait()
        if self.fail:
            raise errors.ServerError({"reason": "InternalError", "message": "boom"}, 500)
        self.created.append(obj)
        return obj

    async def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        await self.gate.wait()
        raise errors.NotFound({"reason": "NotFound"}, 404)


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": NS}}


async def test_recording_never_blocks_on_a_stalled_server() -> None:
    slow = HangingClient()
    rec = EventRecorder(slow, "c.io/op", "i", queue_size=5, burst=100)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(20):
        rec.normal(CM, f"Reason{i}", "Act")  # a plain call: no await, returns at once
    assert loop.time() - start < 0.5
    assert rec.dropped == 15  # the bounded queue overflowed; nothing waited
    slow.gate.set()
    await rec.close()
    assert len(slow.created) == 5


async def test_failures_are_logged_never_raised() -> None:
    broken = HangingClient(fail=True)
    broken.gate.set()
    async with EventRecorder(broken, "c.io/op", "i") as rec:
        rec.normal(CM, "Created", "Act")
        rec.event(CM, "Bogus", "Created", "Act")  # invalid type: dropped, not raised
        rec.normal({"kind": "ConfigMap"}, "Created", "Act")  # no name: dropped
        await rec.flush()
        assert rec.failed == 1
        assert rec.dropped == 2
    rec.normal(CM, "AfterClose", "Act")  # closed: dropped, not raised
    assert rec.dropped == 3


def test_recording_outside_a_loop_does_not_raise() -> None:
    rec = EventRecorder(HangingClient(), "c.io/op", "i")
    rec.normal(CM, "Created", "Act")
    assert rec.dropped == 1


async def test_cluster_scoped_objects_get_events_in_default(client: Client) -> None:
    ns: dict[str, Any] = await client.get(NAMESPACE, NS)
    async with EventRecorder(client, "c.io/op", "i") as rec:
        rec.normal(ns, "Seen", "Observe")
        await rec.flush()
        assert rec.failed == 0
    page = await client.list(EVENT, NS)
    assert any(e["regarding"]["kind"] == "Namespace" for e in page.items)
