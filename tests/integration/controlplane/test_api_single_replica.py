"""The control plane's gRPC API against one in-process replica with its own etcd member:
status codes for bad input (and nothing changed), lock semantics, the topology watch,
snapshots, stale reads and the ring cache."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pilothouse import ports
from pilothouse.controlplane import client as client_mod
from pilothouse.controlplane import errors, replica, ringmodel, statemachine
from pilothouse.controlplane.statemodel import NodeInfo, NodeKind
from pilothouse.testing.eventually import eventually_async

Client = client_mod.ControlPlaneClient


async def _start(base: pathlib.Path, name: str = "r0") -> replica.Replica:
    grpc_port, client_port, peer_port = ports.free_ports(3)
    config = replica.ReplicaConfig(
        name=name,
        data_dir=base / name,
        grpc_port=grpc_port,
        client_port=client_port,
        peer_port=peer_port,
        compaction_interval=3600,
    )
    rep = replica.Replica(config)
    await rep.start()
    return rep


@pytest.fixture
async def rep(tmp_path: pathlib.Path) -> AsyncIterator[replica.Replica]:
    r = await _start(tmp_path)
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def cp(rep: replica.Replica) -> AsyncIterator[Client]:
    async with Client([f"127.0.0.1:{rep.port}"], retry_timeout=5) as c:
        yield c


def node(node_id: str, zone: str = "", status: str = "Active", **kw: Any) -> NodeInfo:
    return NodeInfo(node_id, NodeKind.OBJECT, f"{node_id}.storage:7000", zone, status=status, **kw)  # type: ignore[arg-type]


async def test_bad_input_gets_the_right_status_and_changes_nothing(cp: Client) -> None:
    await cp.add_node(node("n1"))
    lock = await cp.acquire_lock("refs/heads/main", "alice", 10)
    config_version = await cp.set_cluster_config({"replicas": 3})
    before = await cp.get_cluster_state()

    cases: list[tuple[Callable[[], Awaitable[Any]], type[errors.ControlPlaneError], str]] = [
        (lambda: cp.acquire_lock("", "bob", 10), errors.InvalidArgument, "ref must not be empty"),
        (lambda: cp.acquire_lock("r", "", 10), errors.InvalidArgument, "owner must not be empty"),
        (lambda: cp.acquire_lock("r", "bob", -5), errors.InvalidArgument, "at least 2s"),
        (lambda: cp.acquire_lock("r", "bob", 1), errors.InvalidArgument, "at least 2s"),
        (lambda: cp.acquire_lock("r" * 2000, "bob", 10), errors.InvalidArgument, "at most 1024"),
        (lambda: cp.acquire_lock("refs/heads/main", "bob", 10), errors.LockHeld, "'alice'"),
        (
            lambda: cp.release_lock("refs/heads/main", "bob", lock.token),
            errors.FailedPrecondition,
            "held by 'alice'",
        ),
        (
            lambda: cp.renew_lock("refs/heads/main", "alice", lock.token + 1000),
            errors.FailedPrecondition,
            "never granted",
        ),
        (lambda: cp.renew_lock("refs/none", "alice", 7), errors.NotFound, "no lock"),
        (lambda: cp.remove_node("ghost"), errors.NotFound, "'ghost' does not exist"),
        (
            lambda: cp.update_node_status("ghost", ringmodel.NodeStatus.DOWN),
            errors.NotFound,
            "'ghost'",
        ),
        (lambda: cp.add_node(node("n1")), errors.AlreadyExists, "'n1' already exists"),
        (lambda: cp.add_node(node(" n2")), errors.InvalidArgument, "spaces"),
        (
            lambda: cp.set_cluster_config({"x": "y" * 70_000}),
            errors.InvalidArgument,
            "at most 65536",
        ),
        (
            lambda: cp.set_cluster_config({"a": 1}, expected_version=config_version - 1),
            errors.FailedPrecondition,
            "changed after version",
        ),
        (lambda: cp.set_feature_flag("Bad Name", True), errors.InvalidArgument, "lower-case"),
        (
            lambda: cp.update_hash_ring({"vnodes_per_weight": 0}),
            errors.InvalidArgument,
            "vnodes_per_weight",
        ),
        (
            lambda: cp.update_hash_ring({"colour": "red"}),
            errors.InvalidArgument,
            "unknown ring config fields",
        ),
        (lambda: cp.restore_snapshot("{}"), errors.InvalidArgument, "snapshot format"),
        (
            lambda: cp.restore_snapshot(before.to_snapshot()),
            errors.FailedPrecondition,
            "already has state",
        ),
    ]
    for call, expected, message in cases:
        with pytest.raises(expected) as info:
            await call()
        assert message in str(info.value), (expected, str(info.value))

    after = await cp.get_cluster_state()
    assert after.version == before.version
    assert after == before


async def test_held_lock_error_names_the_holder_and_time_left(cp: Client) -> None:
    await cp.acquire_lock("refs/heads/dev", "alice", 30)
    with pytest.raises(errors.LockHeld) as info:
        await cp.acquire_lock("refs/heads/dev", "bob", 30)
    err = info.value
    assert (err.ref, err.owner) == ("refs/heads/dev", "alice")
    assert 25 <= err.remaining_seconds <= 30
    assert "locked by 'alice'" in str(err) and "for another" in str(err)


async def test_fencing_tokens_only_grow_and_acquire_is_idempotent_per_owner(cp: Client) -> None:
    tokens = []
    for i in range(5):
        owner = f"worker-{i}"
        lock = await cp.acquire_lock("refs/heads/main", owner, 5)
        again = await cp.acquire_lock("refs/heads/main", owner, 5)  # a retried acquire
        assert again.token == lock.token
        await cp.set_feature_flag("noise", i % 2 == 0)  # unrelated writes in between
        assert await cp.release_lock("refs/heads/main", owner, lock.token) is True
        assert await cp.release_lock("refs/heads/main", owner, lock.token) is False  # idempotent
        tokens.append(lock.token)
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


async def test_a_lock_expires_by_the_consensus_layer_and_is_granted_again(cp: Client) -> None:
    first = await cp.acquire_lock("refs/tags/v1", "alice", 2)
    renewed = await cp.renew_lock("refs/tags/v1", "alice", first.token)
    assert renewed.token == first.token and renewed.remaining_seconds >= 1

    async def taken_over() -> client_mod.LockInfo | None:
        try:
            return await cp.acquire_lock("refs/tags/v1", "bob", 5)
        except errors.LockHeld:
            return None

    second = await eventually_async(taken_over, timeout=15, message="the lock expired")
    assert second.token > first.token
    with pytest.raises(errors.FailedPrecondition):
        await cp.renew_lock("refs/tags/v1", "alice", first.token)
    state = await cp.get_cluster_state()
    assert state.locks["refs/tags/v1"].owner == "bob"


async def test_watch_topology_from_zero_then_resume_from_a_version(cp: Client) -> None:
    await cp.add_node(node("a", "z1"))
    stream = cp.watch_topology(0)
    first = await anext(stream)
    assert first.snapshot is not None and set(first.snapshot.nodes) == {"a"}
    versions = []
    _, v1 = await cp.add_node(node("b", "z2"))
    versions.append(v1)
    await cp.acquire_lock("refs/x", "me", 5)  # locks are not topology
    versions.append(await cp.set_feature_flag("fast", True))
    versions.append(await cp.set_cluster_config({"k": "v"}))
    versions.append((await cp.update_node_status("a", ringmodel.NodeStatus.DRAINING))[1])
    versions.append(await cp.remove_node("b"))
    ring = await cp.update_hash_ring()
    assert ring is not None
    versions.append(ring.version)
    seen = []
    for _ in versions:
        event = await anext(stream)
        seen.append(event)
    await stream.aclose()  # type: ignore[attr-defined]
    assert [e.version for e in seen] == versions
    kinds = [type(e.changes[0]) for e in seen]
    assert kinds == [
        statemachine.NodeUpserted,
        statemachine.FlagChanged,
        statemachine.ConfigChanged,
        statemachine.NodeUpserted,
        statemachine.NodeRemoved,
        statemachine.RingChanged,
    ]
    # Resuming from the third version replays exactly the later ones, once each.
    resumed = cp.watch_topology(versions[2])
    replay = [(await anext(resumed)).version for _ in versions[3:]]
    await resumed.aclose()  # type: ignore[attr-defined]
    assert replay == versions[3:]


async def test_watch_from_a_compacted_version_is_out_of_range(
    rep: replica.Replica, cp: Client
) -> None:
    first = await cp.set_feature_flag("a", True)
    for i in range(5):
        await cp.set_feature_flag("a", i % 2 == 1)
    assert rep.etcd is not None
    status = await rep.etcd.status()
    await rep.etcd.compact(status.revision)
    machine = statemachine.StateMachine(rep.etcd)
    with pytest.raises(errors.OutOfRange, match="older than the retained history"):
        async for _ in machine.watch_topology(first):
            pass
    # The client recovers on its own: it starts again from a full snapshot.
    stream = cp.watch_topology(first)
    event = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert event.snapshot is not None and event.snapshot.feature_flags == {"a": False}


async def test_snapshot_round_trip_into_a_fresh_cluster(tmp_path: pathlib.Path, cp: Client) -> None:
    for i, zone in enumerate(["z1", "z2", "z3", "z1"]):
        await cp.add_node(node(f"obj-{i}", zone, weight=i + 1))
    await cp.add_node(NodeInfo("meta-0", NodeKind.METADATA, "meta-0:7001"))
    await cp.update_hash_ring({"vnodes_per_weight": 64, "replication_factor": 2})
    await cp.set_cluster_config({"gc": {"interval": "1h"}})
    await cp.set_feature_flag("packfiles", True)
    lock = await cp.acquire_lock("refs/heads/main", "alice", 30)
    saved = await cp.save_snapshot()
    assert saved["locks"][0]["token"] == lock.token

    fresh = await _start(tmp_path / "fresh", "s0")
    try:
        async with Client([f"127.0.0.1:{fresh.port}"]) as other:
            restored_at = await other.restore_snapshot(saved)
            assert restored_at > saved["version"]
            state = await other.get_cluster_state()
            again = state.to_snapshot()
            assert state.version >= restored_at
            for field in ("nodes", "hash_ring", "cluster_config", "feature_flags"):
                assert again[field] == saved[field], field
            assert again["locks"] == []  # leases belong to the old cluster
            # Tokens keep growing across the restore.
            granted = await other.acquire_lock("refs/heads/main", "bob", 10)
            assert granted.token > lock.token
            with pytest.raises(errors.FailedPrecondition, match="already has state"):
                await other.restore_snapshot(saved)
    finally:
        await fresh.stop()


async def test_stale_reads_and_the_ring_cache(cp: Client) -> None:
    for i in range(6):
        await cp.add_node(node(f"n{i}", f"z{i % 3}"))
    ring = await cp.update_hash_ring()
    assert ring is not None
    stale = await cp.get_cluster_state(stale=True)
    assert set(stale.nodes) == {f"n{i}" for i in range(6)}
    assert (await cp.get_hash_ring(stale=True)) == ring

    cache = client_mod.RingCache(cp)
    cache.start()
    try:
        await cache.wait_ready()
        placed = [n.id for n in cache.nodes_for("objects/ab/cdef", 3)]
        assert len(placed) == 3 and len({p[1:] for p in placed}) == 3
        await cp.update_node_status("n0", ringmodel.NodeStatus.DOWN)
        newer = await cp.update_hash_ring()
        assert newer is not None and newer.version > ring.version

        async def follows() -> bool:
            return cache.ring_version == newer.version

        await eventually_async(follows, message="the cache saw the new ring")
        for key in (f"k{i}" for i in range(200)):
            assert "n0" not in [n.id for n in cache.nodes_for(key)]
    finally:
        await cache.stop()
