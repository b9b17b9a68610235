"""Decoding the state from an etcd range and watch events (``decode_state``, ``_change``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import etcd, keys, statemachine, statemodel
from pilothouse.controlplane.ring import HashRing
from pilothouse.controlplane.ringmodel import NodeStatus, RingConfig, RingNode
from pilothouse.controlplane.statemachine import (
    ConfigChanged,
    FlagChanged,
    NodeRemoved,
    NodeUpserted,
    RingChanged,
    decode_state,
)
from pilothouse.controlplane.statemodel import LockInfo, NodeInfo, NodeKind, RingState

PUT, DELETE = etcd.EventType.PUT, etcd.EventType.DELETE

N1 = NodeInfo("n1", NodeKind.OBJECT, "10.0.0.1:7000", "z1", 2, NodeStatus.ACTIVE, 111)
N2 = NodeInfo("nœud-2", NodeKind.METADATA, "10.0.0.2:7000", "", 1, NodeStatus.JOINING, 222)
TOPOLOGY = HashRing.build(
    [RingNode("n1", "z1", 2, "10.0.0.1:7000")], RingConfig(vnodes_per_weight=2)
).topology()


def _kv(key: bytes, value: bytes, mod: int, create: int | None = None, lease: int = 0) -> etcd.KV:
    create = mod if create is None else create
    return etcd.KV(key, value, create, mod, mod - create + 1, lease)


def _node_kv(node: NodeInfo, mod: int) -> etcd.KV:
    return _kv(keys.node(node.id), statemodel.dump(node.to_json()), mod, create=2)


def _ring_kv(mod: int, kind: NodeKind = NodeKind.OBJECT) -> etcd.KV:
    doc = {"node_kind": kind.value, "topology": TOPOLOGY}
    return _kv(keys.RING, statemodel.dump(doc), mod)


def _lock_kv(ref: str, owner: str, created: int, mod: int, lease: int) -> etcd.KV:
    return _kv(keys.lock(ref), owner.encode(), mod, create=created, lease=lease)


def _lock_info_kv(ref: str, created: int, lease: int) -> etcd.KV:
    value = statemodel.dump({"ttl": 30, "acquired_at_ms": 5000})
    return _kv(keys.lock_info(ref), value, created, create=created, lease=lease)


def _full_range(base: int | None, revision: int = 50) -> etcd.Range:
    kvs = [
        _kv(keys.PREFIX + b"other/thing", b"ignored", 3),  # unknown keys are skipped
        _node_kv(N1, 10),
        _node_kv(N2, 12),
        _ring_kv(20),
        _kv(keys.CONFIG, statemodel.dump({"replicas": 3, "tiers": ["hot"]}), 21),
        _kv(keys.flag("fast-path"), b"true", 22),
        _kv(keys.flag("slow-path"), b"false", 23),
        _lock_kv("refs/heads/main", "builder-7", 30, 31, lease=0x7A),
        _lock_info_kv("refs/heads/main", 30, lease=0x7A),
        _lock_kv("refs/tags/ü", "o2", 40, 40, lease=0x7B),
        _lock_info_kv("refs/tags/ü", 40, lease=0x7B),
    ]
    if base is not None:
        kvs.insert(0, _kv(keys.BASE, str(base).encode(), 1))
    return etcd.Range(revision, tuple(sorted(kvs, key=lambda kv: kv.key)))


# -- decode_state ------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [None, 0, 1000])
def test_decode_full_state(base: int | None) -> None:
    b = base or 0
    state = decode_state(_full_range(base))
    assert state.version == b + 50
    assert state.nodes == {"n1": N1, "nœud-2": N2}
    assert state.node_versions == {"n1": b + 10, "nœud-2": b + 12}
    assert state.ring == RingState(TOPOLOGY, NodeKind.OBJECT, b + 20)
    assert state.config == {"replicas": 3, "tiers": ["hot"]}
    assert state.feature_flags == {"fast-path": True, "slow-path": False}
    assert state.locks == {
        "refs/heads/main": LockInfo("refs/heads/main", "builder-7", b + 30, 30, 5000, -1, 0x7A),
        "refs/tags/ü": LockInfo("refs/tags/ü", "o2", b + 40, 30, 5000, -1, 0x7B),
    }


def test_decode_empty() -> None:
    state = decode_state(etcd.Range(7, ()))
    assert state == statemodel.ClusterState(7, {}, None, {}, {}, {}, {})


def test_decode_base_only() -> None:
    state = decode_state(etcd.Range(3, (_kv(keys.BASE, b"500", 3),)))
    assert state.version == 503
    assert state.nodes == {} and state.ring is None and state.locks == {}


def test_decode_lock_token_is_the_create_revision() -> None:
    # A renewed or rewritten lock keeps its token: it is base + create_revision, not mod.
    r = etcd.Range(90, (_kv(keys.BASE, b"100", 1), _lock_kv("r", "o", 60, 85, lease=9)))
    lock = decode_state(r).locks["r"]
    assert lock.token == 160
    assert lock.lease == 9
    assert lock.remaining_seconds == -1


def test_decode_flag_is_true_only_for_json_true() -> None:
    kvs = tuple(
        _kv(keys.flag(name), value, 5)
        for name, value in [("a", b"true"), ("b", b"false"), ("c", b"1"), ("d", b'"true"')]
    )
    assert decode_state(etcd.Range(5, kvs)).feature_flags == {
        "a": True,
        "b": False,
        "c": False,
        "d": False,
    }


def test_node_id_comes_from_the_record() -> None:
    kv = _kv(keys.node("n1"), statemodel.dump(N1.to_json()), 4)
    assert decode_state(etcd.Range(4, (kv,))).nodes == {"n1": N1}


def test_base_of() -> None:
    assert statemachine.base_of(()) == 0
    assert statemachine.base_of((_kv(keys.BASE, b"42", 1),)) == 42
    assert statemachine.base_of((_kv(keys.CONFIG, b"{}", 1), _kv(keys.BASE, b"7", 1))) == 7


def test_lock_of() -> None:
    info = _lock_info_kv("refs/ü", 8, lease=3)
    lock = statemachine.lock_of(_lock_kv("refs/ü", "me", 8, 9, lease=3), info, 10)
    assert lock == LockInfo("refs/ü", "me", 18, 30, 5000, -1, 3)
    # Without its info key (not expected, but never a crash): TTL and time unknown.
    bare = statemachine.lock_of(_lock_kv("refs/ü", "me", 8, 9, lease=3), None, 10)
    assert (bare.owner, bare.token, bare.ttl_seconds, bare.acquired_at_ms) == ("me", 18, 0, 0)


clean_chars = st.characters(blacklist_categories=("Cs", "Cc"))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10**9),
    st.dictionaries(
        st.text(clean_chars, min_size=1, max_size=8).filter(lambda s: s == s.strip()),
        st.integers(1, 10**6),
        max_size=6,
    ),
    st.integers(0, 10**6),
)
def test_decode_versions_property(base: int, mods: dict[str, int], extra: int) -> None:
    kvs = [_kv(keys.BASE, str(base).encode(), 1)]
    nodes = {}
    for node_id, mod in mods.items():
        node = NodeInfo(node_id, NodeKind.OBJECT, "addr")
        nodes[node_id] = node
        kvs.append(_node_kv(node, mod))
    revision = max(mods.values(), default=1) + extra
    state = decode_state(etcd.Range(revision, tuple(sorted(kvs, key=lambda kv: kv.key))))
    assert state.version == base + revision
    assert state.nodes == nodes
    assert state.node_versions == {i: base + m for i, m in mods.items()}
    assert all(v <= state.version for v in state.node_versions.values())


# -- _change -----------------------------------------------------------------------------------


def _event(kind: etcd.EventType, kv: etcd.KV) -> etcd.Event:
    return etcd.Event(kind, kv, None)


def _deleted(key: bytes, mod: int) -> etcd.KV:
    # etcd's DELETE events carry the key and the deleting revision, no value.
    return etcd.KV(key, b"", 0, mod, 0, 0)


def test_change_node_put() -> None:
    change = statemachine._change(_event(PUT, _node_kv(N2, 33)), 100)
    assert change == NodeUpserted(N2, 133)


@pytest.mark.parametrize("node_id", ["n1", "nœud-2", "a/b"])
def test_change_node_delete(node_id: str) -> None:
    change = statemachine._change(_event(DELETE, _deleted(keys.node(node_id), 34)), 100)
    assert change == NodeRemoved(node_id)


def test_change_ring_put() -> None:
    change = statemachine._change(_event(PUT, _ring_kv(40, NodeKind.METADATA)), 5)
    assert change == RingChanged(RingState(TOPOLOGY, NodeKind.METADATA, 45))


def test_change_config_put() -> None:
    kv = _kv(keys.CONFIG, statemodel.dump({"a": {"b": [1]}}), 41)
    assert statemachine._change(_event(PUT, kv), 0) == ConfigChanged({"a": {"b": [1]}})


@pytest.mark.parametrize(("value", "enabled"), [(b"true", True), (b"false", False)])
def test_change_flag_put(value: bytes, enabled: bool) -> None:
    kv = _kv(keys.flag("fast-path"), value, 42)
    assert statemachine._change(_event(PUT, kv), 0) == FlagChanged("fast-path", enabled)


@pytest.mark.parametrize(
    ("kind", "kv"),
    [
        (PUT, _lock_kv("refs/heads/main", "o", 50, 50, lease=1)),
        (DELETE, _deleted(keys.lock("refs/heads/main"), 51)),
        (PUT, _lock_info_kv("refs/heads/main", 50, lease=1)),
        (PUT, _kv(keys.BASE, b"10", 52)),
        (DELETE, _deleted(keys.RING, 53)),
        (DELETE, _deleted(keys.CONFIG, 54)),
        (DELETE, _deleted(keys.flag("fast-path"), 55)),
        (PUT, _kv(keys.PREFIX + b"other", b"x", 56)),
        (PUT, _kv(keys.STATE + b"ringside", b"{}", 57)),
    ],
    ids=[
        "lock-put",
        "lock-delete",
        "lock-info-put",
        "base-put",
        "ring-delete",
        "config-delete",
        "flag-delete",
        "unknown-key",
        "ring-lookalike",
    ],
)
def test_change_ignored(kind: etcd.EventType, kv: etcd.KV) -> None:
    assert statemachine._change(_event(kind, kv), 0) is None


def test_change_matches_decode_state() -> None:
    """A watch event and a full read agree on what a key means."""
    base = 1000
    r = _full_range(base)
    state = decode_state(r)
    changes: list[Any] = []
    for kv in r.kvs:
        change = statemachine._change(_event(PUT, kv), base)
        if change is not None:
            changes.append(change)
    assert [c.node for c in changes if isinstance(c, NodeUpserted)] == list(state.nodes.values())
    assert {c.node.id: c.version for c in changes if isinstance(c, NodeUpserted)} == (
        state.node_versions
    )
    assert [c.ring for c in changes if isinstance(c, RingChanged)] == [state.ring]
    assert [c.config for c in changes if isinstance(c, ConfigChanged)] == [state.config]
    assert {c.name: c.enabled for c in changes if isinstance(c, FlagChanged)} == (
        state.feature_flags
    )
    assert orjson.loads(r.kvs[0].value) == base  # BASE sorts first and is no change
