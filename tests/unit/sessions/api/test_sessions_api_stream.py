"""The shared session watch behind the WebSocket, on a scripted client: resuming from the
last resourceVersion (nothing lost or repeated), listing again after 410 Gone (a fresh
snapshot), dropping a subscriber that falls behind, closing everyone at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.client import watch as watch_mod
from pilothouse.operators.sessions.api import sessionstream

TIMEOUT = 5.0


def sess(name: str, user: str, rv: int, state: str = "running") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)},
        "spec": {"user": user, "state": state},
    }


def gone() -> errors.Gone:
    return errors.Gone({"reason": "Expired", "message": "too old", "code": 410}, 410)


Step = watch_mod.WatchEvent | Exception


class ScriptedKube:
    """Lists and watches answered from scripts. Watches wait for :attr:`gate` (so a test
    subscribes before any event); a used-up script ends the watch (like the server's
    timeout); with no script left the watch waits until cancelled, setting :attr:`idle`."""

    def __init__(self, lists: list[list[dict[str, Any]]], watches: list[list[Step]]) -> None:
        self.lists = lists
        self.watches = watches
        self.list_calls = 0
        self.watch_rvs: list[str | None] = []
        self.gate = asyncio.Event()
        self.idle = asyncio.Event()

    async def list_all(self, kind: Any, namespace: str | None = None, **kw: Any) -> Any:
        items = self.lists[self.list_calls]
        self.list_calls += 1
        rv = max((int(o["metadata"]["resourceVersion"]) for o in items), default=0)
        return client_mod.ObjectList(items, str(rv + 100 * self.list_calls))

    async def watch(
        self, kind: Any, namespace: str | None = None, **kw: Any
    ) -> AsyncIterator[watch_mod.WatchEvent]:
        self.watch_rvs.append(kw.get("resource_version"))
        await self.gate.wait()
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()
        for step in self.watches.pop(0):
            if isinstance(step, Exception):
                raise step
            yield step


def event(kind: Any, obj: dict[str, Any]) -> watch_mod.WatchEvent:
    return watch_mod.WatchEvent(kind, obj)


def stream_of(kube: ScriptedKube, limit: int = 256) -> sessionstream.SessionStream:
    return sessionstream.SessionStream(cast(client_mod.Client, kube), "ns", queue_limit=limit)


async def get(sub: sessionstream.Subscription) -> Any:
    return await asyncio.wait_for(sub.get(), TIMEOUT)


def names(msg: Any) -> list[str]:
    return [s["name"] for s in msg["sessions"]]


async def test_resume_after_an_end_or_an_error_and_relist_after_gone() -> None:
    kube = ScriptedKube(
        lists=[[sess("a1", "alice", 1)], [sess("a1", "alice", 1), sess("a3", "alice", 9)]],
        watches=[
            [event("ADDED", sess("b2", "bob", 3)), event("ADDED", sess("a2", "alice", 4))],
            [
                event("BOOKMARK", {"metadata": {"resourceVersion": "5"}}),
                ConnectionResetError("dropped"),
            ],
            [event("MODIFIED", sess("a2", "alice", 6, "hibernated")), gone()],
        ],
    )
    stream = stream_of(kube)
    stream.start()
    try:
        async with stream.subscribe("alice") as sub:
            kube.gate.set()
            messages = [await get(sub) for _ in range(4)]
            await asyncio.wait_for(kube.idle.wait(), TIMEOUT)
            assert sub._queue.empty()  # nothing else, in particular not bob's session
        assert [m["type"] for m in messages] == ["snapshot", "ADDED", "MODIFIED", "snapshot"]
        assert names(messages[0]) == ["a1"]
        assert messages[1]["session"]["name"] == "a2"
        assert messages[2]["session"]["state"] == "hibernated"
        assert names(messages[3]) == ["a1", "a3"]
        # Ended normally → resumed from the last event; failed → resumed from the bookmark;
        # Gone → listed again and watched from the new list's version.
        assert kube.watch_rvs == ["101", "4", "5", "209"]
        assert kube.list_calls == 2
    finally:
        await stream.stop()


async def test_a_subscriber_that_falls_behind_is_closed_and_dropped() -> None:
    kube = ScriptedKube(
        lists=[[]],
        watches=[[event("ADDED", sess(f"a{i}", "alice", i + 1)) for i in range(5)]],
    )
    stream = stream_of(kube, limit=3)
    stream.start()
    try:
        async with stream.subscribe("alice") as slow, stream.subscribe("bob") as other:
            kube.gate.set()
            await asyncio.wait_for(kube.idle.wait(), TIMEOUT)
            got = [await get(slow) for _ in range(4)]
            assert [m["type"] for m in got[:3]] == ["snapshot", "ADDED", "ADDED"]
            assert got[3] == sessionstream.Close(
                sessionstream.CLOSE_TOO_SLOW, "too slow: fell behind the session stream"
            )
            assert slow._queue.empty()
            assert (await get(other))["type"] == "snapshot"
            assert other.closed is None
    finally:
        await stream.stop()


async def test_stop_closes_every_subscription() -> None:
    kube = ScriptedKube(lists=[[sess("a1", "alice", 1)]], watches=[])
    stream = stream_of(kube)
    stream.start()
    async with stream.subscribe("alice") as sub:
        kube.gate.set()
        await asyncio.wait_for(kube.idle.wait(), TIMEOUT)
        await stream.stop()
        assert names(await get(sub)) == ["a1"]
        assert await get(sub) == sessionstream.Close(
            sessionstream.CLOSE_GOING_AWAY, "the sessions API is shutting down"
        )
