"""Model <-> protobuf conversions: the round trip is the identity, request defaults apply."""

from __future__ import annotations

from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import errors, ringmodel, statemachine, wire
from pilothouse.controlplane.proto import controlplane_pb2 as pb
from pilothouse.controlplane.ring import HashRing
from pilothouse.controlplane.ringmodel import NodeStatus, RingConfig, RingNode
from pilothouse.controlplane.statemachine import (
    ConfigChanged,
    FlagChanged,
    NodeRemoved,
    NodeUpserted,
    RingChanged,
    TopologyEvent,
)
from pilothouse.controlplane.statemodel import ClusterState, LockInfo, NodeInfo, NodeKind, RingState

PROPERTY = settings(max_examples=100, deadline=None)

UINT63 = st.integers(0, 2**63 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)

clean_chars = st.characters(blacklist_categories=("Cs", "Cc"))
node_ids = (
    st.text(clean_chars, min_size=1, max_size=16)
    .filter(lambda s: s == s.strip())
    .filter(lambda s: len(s.encode()) <= ringmodel.MAX_NODE_ID_BYTES)
)
nodes_st = st.builds(
    NodeInfo,
    id=node_ids,
    kind=st.sampled_from(list(NodeKind)),
    address=st.text(clean_chars, min_size=1, max_size=30),
    zone=st.text(clean_chars, max_size=12),
    weight=st.integers(1, ringmodel.MAX_WEIGHT),
    status=st.sampled_from(list(NodeStatus)),
    last_heartbeat_ms=st.integers(0, 2**63 - 1),
)
locks_st = st.builds(
    LockInfo,
    ref=st.text(clean_chars, min_size=1, max_size=30),
    owner=st.text(clean_chars, min_size=1, max_size=20),
    token=UINT63,
    ttl_seconds=st.integers(0, 2**32 - 1),
    acquired_at_ms=INT64,
    remaining_seconds=st.integers(-1, 2**40),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(clean_chars, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(clean_chars, max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
configs_st = st.dictionaries(st.text(clean_chars, max_size=6), json_values, max_size=4)
flag_names = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True)


def _topology(ids: tuple[str, ...]) -> dict[str, Any]:
    nodes = [RingNode(i, zone=f"z{n % 2}", address=f"h{n}") for n, i in enumerate(ids)]
    return HashRing.build(nodes, RingConfig(vnodes_per_weight=2)).topology()


# Small, valid ring topologies (a build is cheap at 2 vnodes per weight).
rings_st = st.builds(
    RingState,
    topology=st.lists(st.sampled_from(["a", "b", "c", "d", "é"]), max_size=4, unique=True).map(
        lambda ids: _topology(tuple(ids))
    ),
    node_kind=st.sampled_from(list(NodeKind)),
    version=UINT63,
)


@st.composite
def states_st(draw: st.DrawFn) -> ClusterState:
    nodes = draw(st.lists(nodes_st, max_size=5, unique_by=lambda n: n.id))
    locks = draw(st.lists(locks_st, max_size=3, unique_by=lambda lk: lk.ref))
    return ClusterState(
        version=draw(UINT63),
        nodes={n.id: n for n in nodes},
        ring=draw(st.none() | rings_st),
        locks={lk.ref: lk for lk in locks},
        config=draw(configs_st),
        feature_flags=draw(st.dictionaries(flag_names, st.booleans(), max_size=4)),
        # Every node has a version on the wire, so the model must give each one.
        node_versions={n.id: draw(UINT63) for n in nodes},
    )


changes_st = st.one_of(
    st.builds(NodeUpserted, nodes_st, UINT63),
    st.builds(NodeRemoved, node_ids),
    st.builds(RingChanged, rings_st),
    st.builds(ConfigChanged, configs_st),
    st.builds(FlagChanged, flag_names, st.booleans()),
)


def _over_the_wire(msg: Any) -> Any:
    """Serialize and parse, as the network does."""
    return type(msg).FromString(msg.SerializeToString())


# -- enum maps ---------------------------------------------------------------------------------


def test_kind_map_is_a_complete_bijection() -> None:
    assert set(wire.KIND_TO_PB) == set(NodeKind)
    assert set(wire.KIND_TO_PB.values()) == set(pb.NodeKind.values()) - {pb.NODE_KIND_UNSPECIFIED}
    assert len(set(wire.KIND_TO_PB.values())) == len(NodeKind)
    assert {v: k for k, v in wire.PB_TO_KIND.items()} == wire.KIND_TO_PB
    for kind, value in wire.KIND_TO_PB.items():
        # Same names on both sides: CONTROL_PLANE <-> ControlPlane, ...
        assert pb.NodeKind.Name(value) == kind.name
        assert wire.kind_from_pb(value) is kind


def test_status_map_is_a_complete_bijection() -> None:
    assert set(wire.STATUS_TO_PB) == set(NodeStatus)
    assert set(wire.STATUS_TO_PB.values()) == set(pb.NodeStatus.values()) - {
        pb.NODE_STATUS_UNSPECIFIED
    }
    assert len(set(wire.STATUS_TO_PB.values())) == len(NodeStatus)
    assert {v: k for k, v in wire.PB_TO_STATUS.items()} == wire.STATUS_TO_PB
    for status, value in wire.STATUS_TO_PB.items():
        assert pb.NodeStatus.Name(value) == status.name
        assert wire.status_from_pb(value) is status


def test_kind_from_pb_unspecified_and_unknown() -> None:
    with pytest.raises(errors.InvalidArgument, match="node kind must be one of CONTROL_PLANE"):
        wire.kind_from_pb(pb.NODE_KIND_UNSPECIFIED)
    with pytest.raises(errors.InvalidArgument, match="node kind must be one of"):
        wire.kind_from_pb(99)
    assert wire.kind_from_pb(pb.NODE_KIND_UNSPECIFIED, default=NodeKind.OBJECT) is NodeKind.OBJECT
    assert wire.kind_from_pb(pb.METADATA, default=NodeKind.OBJECT) is NodeKind.METADATA


def test_status_from_pb_unspecified_and_unknown() -> None:
    with pytest.raises(errors.InvalidArgument, match="node status must be one of JOINING"):
        wire.status_from_pb(pb.NODE_STATUS_UNSPECIFIED)
    with pytest.raises(errors.InvalidArgument, match="node status must be one of"):
        wire.status_from_pb(17)
    assert (
        wire.status_from_pb(pb.NODE_STATUS_UNSPECIFIED, default=NodeStatus.DOWN) is NodeStatus.DOWN
    )


# -- nodes -------------------------------------------------------------------------------------


def test_node_to_pb_fields() -> None:
    node = NodeInfo("n1", NodeKind.FRONTEND, "h:1", "z", 7, NodeStatus.DRAINING, 123)
    msg = wire.node_to_pb(node, 9)
    assert (msg.id, msg.address, msg.zone, msg.weight, msg.last_heartbeat_ms, msg.version) == (
        "n1",
        "h:1",
        "z",
        7,
        123,
        9,
    )
    assert msg.kind == pb.FRONTEND
    assert msg.status == pb.DRAINING


@PROPERTY
@given(nodes_st, UINT63)
def test_node_round_trip(node: NodeInfo, version: int) -> None:
    msg = _over_the_wire(wire.node_to_pb(node, version))
    assert msg.version == version
    assert wire.node_from_pb(msg) == node
    assert wire.node_from_pb(msg, request=True) == node  # stored fields win over defaults


def test_node_from_pb_defaults() -> None:
    node = wire.node_from_pb(pb.Node(id="n1", kind=pb.OBJECT, address="a"), request=True)
    assert node == NodeInfo("n1", NodeKind.OBJECT, "a", "", 1, NodeStatus.JOINING, 0)


def test_node_from_pb_requires_kind() -> None:
    with pytest.raises(errors.InvalidArgument, match="node kind must be one of"):
        wire.node_from_pb(pb.Node(id="n1", address="a", weight=1, status=pb.ACTIVE), request=True)


def test_node_from_pb_validates() -> None:
    with pytest.raises(errors.InvalidArgument, match="weight must be an integer from 1 to 10000"):
        wire.node_from_pb(
            pb.Node(id="n1", kind=pb.OBJECT, address="a", weight=10_001), request=True
        )
    with pytest.raises(errors.InvalidArgument, match="node id must not be empty"):
        wire.node_from_pb(pb.Node(kind=pb.OBJECT, address="a"), request=True)
    with pytest.raises(errors.InvalidArgument, match="address must not be empty"):
        wire.node_from_pb(pb.Node(id="n1", kind=pb.OBJECT), request=True)
    with pytest.raises(errors.InvalidArgument, match="node status must be one of"):
        wire.node_from_pb(pb.Node(id="n1", kind=pb.OBJECT, address="a", status=cast(Any, 42)))


def test_stored_node_has_no_request_defaults() -> None:
    # A stored node always has a weight and a status; zeros there are corruption, not defaults.
    with pytest.raises(errors.InvalidArgument, match="weight"):
        wire.node_from_pb(pb.Node(id="n1", kind=pb.OBJECT, address="a", status=pb.ACTIVE))
    with pytest.raises(errors.InvalidArgument, match="status"):
        wire.node_from_pb(pb.Node(id="n1", kind=pb.OBJECT, address="a", weight=1))


# -- locks and rings ---------------------------------------------------------------------------


@PROPERTY
@given(locks_st)
def test_lock_round_trip(lock: LockInfo) -> None:
    assert wire.lock_from_pb(_over_the_wire(wire.lock_to_pb(lock))) == lock


def test_lock_lease_is_not_on_the_wire() -> None:
    lock = LockInfo("r", "o", 5, 10, 1000, 7, lease=12345)
    back = wire.lock_from_pb(wire.lock_to_pb(lock))
    assert back.lease == 0
    assert (back.ref, back.owner, back.token, back.ttl_seconds) == ("r", "o", 5, 10)
    assert (back.acquired_at_ms, back.remaining_seconds) == (1000, 7)


@PROPERTY
@given(rings_st)
def test_ring_round_trip(ring: RingState) -> None:
    msg = _over_the_wire(wire.ring_to_pb(ring))
    assert msg.fingerprint == ring.fingerprint
    assert msg.fingerprint.startswith("blake2b256:")
    assert wire.ring_from_pb(msg) == ring


def test_no_ring() -> None:
    msg = wire.ring_to_pb(None)
    assert msg == pb.HashRing()
    assert wire.ring_from_pb(msg) is None


def test_ring_from_pb_rejects_unspecified_kind() -> None:
    ring = RingState(_topology(("a",)), NodeKind.OBJECT, 3)
    msg = wire.ring_to_pb(ring)
    msg.node_kind = pb.NODE_KIND_UNSPECIFIED
    with pytest.raises(errors.InvalidArgument):
        wire.ring_from_pb(msg)


# -- whole state -------------------------------------------------------------------------------


@PROPERTY
@given(states_st())
def test_state_round_trip(state: ClusterState) -> None:
    msg = _over_the_wire(wire.state_to_pb(state))
    assert [n.id for n in msg.nodes] == sorted(state.nodes)
    assert wire.state_from_pb(msg) == state


def test_empty_state_round_trip() -> None:
    state = ClusterState(0, {}, None, {}, {}, {})
    msg = wire.state_to_pb(state)
    assert msg.config_json == "{}"
    assert wire.state_from_pb(msg) == state
    assert wire.state_from_pb(pb.ClusterState()) == state  # no config_json means {}


def test_state_node_without_version_gets_zero() -> None:
    node = NodeInfo("n1", NodeKind.OBJECT, "a")
    state = ClusterState(5, {"n1": node}, None, {}, {}, {})
    back = wire.state_from_pb(wire.state_to_pb(state))
    assert back.node_versions == {"n1": 0}
    assert back.nodes == {"n1": node}


# -- topology events ---------------------------------------------------------------------------


def test_event_every_change_type() -> None:
    ring = RingState(_topology(("a", "b")), NodeKind.METADATA, 11)
    node = NodeInfo("nœud", NodeKind.OBJECT, "h:1", "z", 2, NodeStatus.ACTIVE, 99)
    event = TopologyEvent(
        12,
        (
            NodeUpserted(node, 12),
            NodeRemoved("gone"),
            RingChanged(ring),
            ConfigChanged({"a": [1, {"b": None}]}),
            ConfigChanged({}),
            FlagChanged("fast-path", True),
            FlagChanged("slow-path", False),
        ),
    )
    msg = _over_the_wire(wire.event_to_pb(event))
    assert [c.WhichOneof("change") for c in msg.changes] == [
        "node_upserted",
        "node_removed",
        "ring",
        "config_json",
        "config_json",
        "feature_flag",
        "feature_flag",
    ]
    assert not msg.HasField("snapshot")
    assert wire.event_from_pb(msg) == event


def test_snapshot_event() -> None:
    state = ClusterState(
        7,
        {"n1": NodeInfo("n1", NodeKind.OBJECT, "a", status=NodeStatus.ACTIVE)},
        RingState(_topology(("n1",)), NodeKind.OBJECT, 6),
        {"r": LockInfo("r", "o", 4, 30, 1, 20)},
        {"x": 1},
        {"f": True},
        {"n1": 5},
    )
    event = TopologyEvent(7, snapshot=state)
    msg = _over_the_wire(wire.event_to_pb(event))
    assert msg.HasField("snapshot")
    assert len(msg.changes) == 0
    assert wire.event_from_pb(msg) == event


def test_empty_snapshot_event_keeps_its_snapshot() -> None:
    event = TopologyEvent(0, snapshot=ClusterState(0, {}, None, {}, {}, {}))
    back = wire.event_from_pb(_over_the_wire(wire.event_to_pb(event)))
    assert back.snapshot is not None
    assert back == event


@PROPERTY
@given(UINT63, st.lists(changes_st, max_size=6), st.none() | states_st())
def test_event_round_trip(
    version: int, changes: list[statemachine.Change], snapshot: ClusterState | None
) -> None:
    event = TopologyEvent(version, tuple(changes), snapshot)
    assert wire.event_from_pb(_over_the_wire(wire.event_to_pb(event))) == event


def test_event_from_pb_skips_empty_ring_and_unknown() -> None:
    msg = pb.TopologyEvent(version=3)
    msg.changes.add().ring.SetInParent()  # no topology: not a ring change
    msg.changes.add()  # no change set at all (a newer server's field, say)
    assert [c.WhichOneof("change") for c in msg.changes] == ["ring", None]
    assert wire.event_from_pb(msg) == TopologyEvent(3, ())
