"""The emulator's files: state.json round trips through the Store atomically, topology
directories come and go with the state, and the leader lock and peer list."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from pilothouse.operators.storm.nimbus import endpoint
from pilothouse.operators.storm.nimbus.emulator import (
    leadership,
    scheduler,
    state,
    store,
    validation,
)


def test_state_round_trips_through_state_json(tmp_path: pathlib.Path) -> None:
    s = store.Store(tmp_path)
    s.ensure_dirs()
    assert s.read_state() is None and s.signature() is None
    slots = scheduler.Slots(2, 2)
    cluster = state.ClusterState(slots)
    components = [validation.Component("w", 2, 3)]
    for name in ("a", "b"):
        topology_id = cluster.allocate_id(name, 5.0)
        cluster.submit(
            topology_id, name, {"topology.workers": 2}, components, state.Status.ACTIVE, 5.0
        )
    cluster.kill("b", 60, 6.0)
    s.write_state(cluster.to_json())
    first = s.signature()
    loaded = state.ClusterState.from_json(s.read_state() or {}, slots)
    assert loaded.to_json() == cluster.to_json()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    s.write_state(loaded.to_json())
    assert s.signature() != first  # a rename: a new inode, even with the same bytes


def test_install_then_prune_and_remove(tmp_path: pathlib.Path) -> None:
    s = store.Store(tmp_path)
    s.ensure_dirs()
    jar = tmp_path / "upload.jar"
    jar.write_bytes(b"PK")
    s.install("t-1-1", jar, b"code")
    assert jar.read_bytes() == b"PK"  # the upload stays in the inbox until it expires
    assert s.jar_path("t-1-1").read_bytes() == b"PK" and s.read_code("t-1-1") == b"code"
    (s.topologies_dir / "orphan-2-2").mkdir()
    assert s.prune(["t-1-1"]) == ["orphan-2-2"]
    s.remove(["t-1-1"])
    assert list(s.topologies_dir.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        s.install("t-3-3", tmp_path / "missing.jar", b"")
    assert not s.topology_dir("t-3-3").exists()  # no half-installed directory


def test_a_torn_write_leaves_the_old_state(tmp_path: pathlib.Path) -> None:
    s = store.Store(tmp_path)
    s.write_state({"format": 1, "v": "old"})
    # A crash after writing the temporary file but before the rename changes nothing.
    (tmp_path / ".state.json.tmp").write_text('{"format": 1, "v": "ne')
    assert s.read_state() == {"format": 1, "v": "old"}
    s.write_state({"format": 1, "v": "new"})
    assert json.loads((tmp_path / "state.json").read_text())["v"] == "new"


def test_the_leader_lock_is_exclusive_and_released_on_close(tmp_path: pathlib.Path) -> None:
    first, second = leadership.LeaderLock(tmp_path), leadership.LeaderLock(tmp_path)
    first.acquire()
    assert first.held and first.try_acquire()
    assert not second.try_acquire()
    with pytest.raises(
        leadership.LeadershipError, match=f"another Nimbus emulator leads from {tmp_path}"
    ):
        second.acquire()
    assert (tmp_path / "leader.lock").read_text().strip() == str(os.getpid())
    first.release()
    assert not first.held
    assert second.try_acquire()
    second.release()
    # Separate directories never contend.
    other = leadership.LeaderLock(tmp_path / "x")
    (tmp_path / "x").mkdir()
    assert other.try_acquire() and leadership.LeaderLock(tmp_path).try_acquire()
    other.release()


def test_the_peer_list_shows_fresh_entries_only(tmp_path: pathlib.Path) -> None:
    registry = leadership.PeerRegistry(tmp_path)
    a, b = endpoint.Endpoint("127.0.0.1", 7001), endpoint.Endpoint("127.0.0.1", 7000)
    registry.beat(a, 1.0)
    registry.beat(b, 2.0)
    assert [p.endpoint for p in registry.peers()] == [b, a]
    stale = registry.directory / "127.0.0.1_7001.json"
    old = stale.stat().st_mtime - leadership.PEER_TTL - 1
    os.utime(stale, (old, old))
    assert [p.endpoint for p in registry.peers()] == [b]
    registry.beat(a, 1.0)  # a beat refreshes it
    assert len(registry.peers()) == 2
    registry.leave(a)
    assert [p.started for p in registry.peers()] == [2.0]
