"""etcd membership of a running 3-replica control plane: a replica joins and leaves, a
removal that would leave no healthy quorum is refused, and a rolling restart keeps both
the membership and the data."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from pilothouse.controlplane import errors, membership
from pilothouse.controlplane.client import ControlPlaneClient
from pilothouse.testing.controlplane import ControlPlaneCluster
from pilothouse.testing.eventually import eventually_async

THREE = ["r0", "r1", "r2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneCluster]:
    c = ControlPlaneCluster(tmp_path_factory.mktemp("membership"), 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


async def members_seen_by(endpoint: str) -> list[str] | None:
    """The etcd member names the replica at ``endpoint`` reports; None while it cannot."""
    async with ControlPlaneClient([endpoint], timeout=2, retry_timeout=2) as one:
        try:
            return sorted((await one.status()).members)
        except errors.ControlPlaneError:
            return None


async def wait_members(endpoint: str, expected: list[str]) -> None:
    async def check() -> bool:
        return await members_seen_by(endpoint) == expected

    await eventually_async(check, timeout=20, message=f"{endpoint} reporting {expected}")


async def test_a_replica_joins_and_leaves(cluster: ControlPlaneCluster) -> None:
    name = await asyncio.to_thread(cluster.add_replica)
    assert name == "r3"
    new = cluster.replicas[name].endpoint
    await wait_members(new, [*THREE, name])
    await wait_members(cluster.replicas["r0"].endpoint, [*THREE, name])
    async with ControlPlaneClient([new], timeout=2, retry_timeout=20) as client:
        assert await client.set_feature_flag("through-r3", True) > 0

    await asyncio.to_thread(cluster.remove_replica, name)
    assert sorted(cluster.replicas) == THREE
    for r in cluster.replicas.values():
        await wait_members(r.endpoint, THREE)
    async with ControlPlaneClient(cluster.endpoints, timeout=2, retry_timeout=20) as client:
        state = await client.get_cluster_state()
    assert state.feature_flags["through-r3"] is True


async def test_a_removal_without_a_healthy_quorum_is_refused(
    cluster: ControlPlaneCluster,
) -> None:
    cluster.pause("r1")
    cluster.pause("r2")
    try:
        # r0 is the only healthy member: removing any of the three would leave two voters
        # with at most one healthy, short of their quorum of two.
        for victim in ("r1", "r0"):
            with pytest.raises(membership.QuorumError):
                await asyncio.to_thread(cluster.remove_replica, victim, 10)
            assert sorted(cluster.replicas) == THREE
        listed = await membership.list_members([f"http://{cluster.replicas['r0'].etcd_endpoint}"])
        assert sorted(m.name for m in listed) == THREE
    finally:
        cluster.resume("r1")
        cluster.resume("r2")
    for r in cluster.replicas.values():
        await wait_members(r.endpoint, THREE)
    async with ControlPlaneClient(cluster.endpoints, timeout=2, retry_timeout=20) as client:
        assert await client.set_feature_flag("after-refusal", True) > 0


async def test_a_rolling_restart_keeps_membership_and_data(cluster: ControlPlaneCluster) -> None:
    async with ControlPlaneClient(cluster.endpoints, timeout=2, retry_timeout=20) as client:
        await client.set_feature_flag("before-rolling", True)
        lock = await client.acquire_lock("rolling", "tester", 30)
        written = {"before-rolling"}
        for name in list(cluster.replicas):
            await asyncio.to_thread(cluster.terminate, name)
            written.add(f"while-{name}-down")
            await client.set_feature_flag(f"while-{name}-down", True)
            await asyncio.to_thread(cluster.restart, name)
            await wait_members(cluster.replicas[name].endpoint, THREE)
            written.add(f"after-{name}-restart")
            await client.set_feature_flag(f"after-{name}-restart", True)
        assert (await client.renew_lock("rolling", "tester", lock.token)).token == lock.token

    for r in cluster.replicas.values():

        async def caught_up(endpoint: str = r.endpoint) -> bool:
            async with ControlPlaneClient([endpoint], timeout=2, retry_timeout=2) as one:
                state = await one.get_cluster_state(stale=True)
            return written <= set(state.feature_flags) and "rolling" in state.locks

        await eventually_async(caught_up, timeout=20, message=f"{r.name} has every write")
        await wait_members(r.endpoint, THREE)
