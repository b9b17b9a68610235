"""WatchTopology across replica failures: the replica a watcher streams from is SIGKILLed
(twice, mid-stream) while a writer keeps changing nodes; the watcher must see every version
once, in order, and every one of the writer's changes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator

import pytest

from pilothouse.controlplane import statemachine
from pilothouse.controlplane.client import ControlPlaneClient
from pilothouse.controlplane.ringmodel import NodeStatus
from pilothouse.controlplane.statemodel import NodeInfo, NodeKind
from pilothouse.testing.controlplane import ControlPlaneCluster
from pilothouse.testing.eventually import eventually_async

KILLS = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneCluster]:
    c = ControlPlaneCluster(tmp_path_factory.mktemp("watch"), 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


async def writer(client: ControlPlaneClient, done: asyncio.Event) -> dict[int, str]:
    """Add nodes and update their status until ``done``; the version of each change."""
    versions: dict[int, str] = {}
    i = 0
    while not done.is_set():
        node_id = f"node-{i}"
        _, version = await client.add_node(NodeInfo(node_id, NodeKind.OBJECT, f"10.0.0.{i}:1"))
        versions[version] = node_id
        _, version = await client.update_node_status(node_id, NodeStatus.ACTIVE)
        versions[version] = node_id
        i += 1
    return versions


async def test_a_watch_resumes_on_another_replica_without_gaps_or_duplicates(
    cluster: ControlPlaneCluster,
) -> None:
    events: list[statemachine.TopologyEvent] = []
    received = asyncio.Event()

    async def watch(client: ControlPlaneClient) -> None:
        async for event in client.watch_topology(0):
            events.append(event)
            received.set()

    async with (
        ControlPlaneClient(cluster.endpoints, timeout=2, retry_timeout=20) as watcher,
        ControlPlaneClient(cluster.endpoints, timeout=2, retry_timeout=20) as writes,
    ):
        watching = asyncio.create_task(watch(watcher))
        done = asyncio.Event()
        writing = asyncio.create_task(writer(writes, done))

        async def events_beyond(n: int) -> bool:
            if writing.done():
                writing.result()  # the writer failed: say why, now
            return len(events) >= n

        async def version_reached(v: int) -> bool:
            return bool(events) and events[-1].version >= v

        try:
            killed = []
            for _ in range(KILLS):
                await eventually_async(
                    lambda n=len(events) + 10: events_beyond(n),
                    timeout=20,
                    message="the watcher receiving events",
                )
                # The replica the stream is open on (the client moves only on failure).
                victim = next(
                    r for r in cluster.replicas.values() if r.endpoint == watcher.endpoint
                )
                cluster.kill(victim.name)
                killed.append(victim.name)
                await eventually_async(
                    lambda n=len(events) + 10: events_beyond(n),
                    timeout=20,
                    message=f"the watcher resuming after {victim.name} was killed",
                )
                await asyncio.to_thread(cluster.restart, victim.name)
            done.set()
            versions = await writing
            last = max(versions)
            await eventually_async(
                lambda: version_reached(last),
                timeout=20,
                message=f"the watcher reaching version {last}",
            )
        finally:
            done.set()
            for task in (watching, writing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    assert len(set(killed)) == KILLS, killed  # it really moved to another replica
    assert events[0].snapshot is not None
    assert all(e.snapshot is None for e in events[1:])
    seen_versions = [e.version for e in events]
    assert seen_versions == sorted(set(seen_versions)), "versions not strictly increasing"
    by_version = {e.version: e for e in events[1:]}
    start = events[0].version
    mine = {v: n for v, n in versions.items() if v > start}
    assert len(mine) >= 4 * KILLS
    missing = sorted(set(mine) - set(by_version))
    assert not missing, f"writes never seen by the watcher: {missing}"
    for version, node_id in mine.items():
        upserted = [
            c.node.id
            for c in by_version[version].changes
            if isinstance(c, statemachine.NodeUpserted)
        ]
        assert upserted == [node_id], (version, by_version[version])
    counts = collections.Counter(seen_versions)
    assert max(counts.values()) == 1
    print(f"\nkilled {killed}; {len(events)} events up to version {seen_versions[-1]}")
