"""Conversions between the state model and the generated gRPC messages, and typed access to
the generated service code (which grpcio-tools emits without annotations).

The server and the client both go through here, so a field is mapped in exactly one place
and the round trip model -> message -> model is the identity (tested).
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import orjson

from pilothouse.controlplane import errors, ringmodel, statemachine, statemodel
from pilothouse.controlplane.proto import controlplane_pb2 as pb
from pilothouse.controlplane.proto import controlplane_pb2_grpc as pb_grpc
from pilothouse.controlplane.statemodel import ClusterState, LockInfo, NodeInfo, NodeKind

KIND_TO_PB = {
    NodeKind.CONTROL_PLANE: pb.CONTROL_PLANE,
    NodeKind.METADATA: pb.METADATA,
    NodeKind.OBJECT: pb.OBJECT,
    NodeKind.FRONTEND: pb.FRONTEND,
}
PB_TO_KIND = {v: k for k, v in KIND_TO_PB.items()}
STATUS_TO_PB = {
    ringmodel.NodeStatus.JOINING: pb.JOINING,
    ringmodel.NodeStatus.ACTIVE: pb.ACTIVE,
    ringmodel.NodeStatus.DRAINING: pb.DRAINING,
    ringmodel.NodeStatus.DOWN: pb.DOWN,
}
PB_TO_STATUS = {v: k for k, v in STATUS_TO_PB.items()}

#: The generated servicer base class and registration function (untyped upstream).
Servicer: Any = pb_grpc.ControlPlaneServicer


def add_servicer(servicer: object, server: grpc.aio.Server) -> None:
    register: Any = pb_grpc.add_ControlPlaneServicer_to_server
    register(servicer, server)


def stub(channel: grpc.aio.Channel) -> Any:
    make: Any = pb_grpc.ControlPlaneStub
    return make(channel)


def kind_from_pb(value: int, *, default: NodeKind | None = None) -> NodeKind:
    if value == pb.NODE_KIND_UNSPECIFIED and default is not None:
        return default
    try:
        return PB_TO_KIND[value]  # type: ignore[index]
    except KeyError:
        raise errors.InvalidArgument(
            "node kind must be one of CONTROL_PLANE, METADATA, OBJECT, FRONTEND"
        ) from None


def status_from_pb(
    value: int, *, default: ringmodel.NodeStatus | None = None
) -> ringmodel.NodeStatus:
    if value == pb.NODE_STATUS_UNSPECIFIED and default is not None:
        return default
    try:
        return PB_TO_STATUS[value]  # type: ignore[index]
    except KeyError:
        raise errors.InvalidArgument(
            "node status must be one of JOINING, ACTIVE, DRAINING, DOWN"
        ) from None


def node_to_pb(node: NodeInfo, version: int = 0) -> pb.Node:
    return pb.Node(
        id=node.id,
        kind=KIND_TO_PB[node.kind],
        address=node.address,
        zone=node.zone,
        weight=node.weight,
        status=STATUS_TO_PB[node.status],
        last_heartbeat_ms=node.last_heartbeat_ms,
        version=version,
    )


def node_from_pb(msg: pb.Node, *, request: bool = False) -> NodeInfo:
    """A node from a message. Kind is always required; in a ``request`` (AddNode) weight 0
    means 1 and no status means Joining, while a stored node carries both."""
    status_default = ringmodel.NodeStatus.JOINING if request else None
    return NodeInfo(
        id=msg.id,
        kind=kind_from_pb(msg.kind),
        address=msg.address,
        zone=msg.zone,
        weight=(msg.weight or 1) if request else msg.weight,
        status=status_from_pb(msg.status, default=status_default),
        last_heartbeat_ms=msg.last_heartbeat_ms,
    )


def lock_to_pb(lock: LockInfo) -> pb.Lock:
    return pb.Lock(
        ref=lock.ref,
        owner=lock.owner,
        token=lock.token,
        ttl_seconds=lock.ttl_seconds,
        remaining_seconds=lock.remaining_seconds,
        acquired_at_ms=lock.acquired_at_ms,
    )


def lock_from_pb(msg: pb.Lock) -> LockInfo:
    return LockInfo(
        msg.ref, msg.owner, msg.token, msg.ttl_seconds, msg.acquired_at_ms, msg.remaining_seconds
    )


def ring_to_pb(ring: statemodel.RingState | None) -> pb.HashRing:
    if ring is None:
        return pb.HashRing()
    return pb.HashRing(
        topology_json=statemodel.dump(ring.topology).decode(),
        fingerprint=ring.fingerprint,
        version=ring.version,
        node_kind=KIND_TO_PB[ring.node_kind],
    )


def ring_from_pb(msg: pb.HashRing) -> statemodel.RingState | None:
    if not msg.topology_json:
        return None
    return statemodel.RingState(
        orjson.loads(msg.topology_json), kind_from_pb(msg.node_kind), msg.version
    )


def state_to_pb(state: ClusterState) -> pb.ClusterState:
    return pb.ClusterState(
        version=state.version,
        nodes=[
            node_to_pb(state.nodes[k], state.node_versions.get(k, 0)) for k in sorted(state.nodes)
        ],
        ring=ring_to_pb(state.ring),
        locks=[lock_to_pb(state.locks[k]) for k in sorted(state.locks)],
        config_json=statemodel.dump(state.config).decode(),
        feature_flags=[
            pb.FeatureFlag(name=k, enabled=v) for k, v in sorted(state.feature_flags.items())
        ],
    )


def state_from_pb(msg: pb.ClusterState) -> ClusterState:
    nodes = {n.id: node_from_pb(n) for n in msg.nodes}
    return ClusterState(
        version=msg.version,
        nodes=nodes,
        ring=ring_from_pb(msg.ring),
        locks={lk.ref: lock_from_pb(lk) for lk in msg.locks},
        config=orjson.loads(msg.config_json) if msg.config_json else {},
        feature_flags={f.name: f.enabled for f in msg.feature_flags},
        node_versions={n.id: n.version for n in msg.nodes},
    )


def event_to_pb(event: statemachine.TopologyEvent) -> pb.TopologyEvent:
    out = pb.TopologyEvent(version=event.version)
    if event.snapshot is not None:
        out.snapshot.CopyFrom(state_to_pb(event.snapshot))
    for change in event.changes:
        c = out.changes.add()
        if isinstance(change, statemachine.NodeUpserted):
            c.node_upserted.CopyFrom(node_to_pb(change.node, change.version))
        elif isinstance(change, statemachine.NodeRemoved):
            c.node_removed = change.node_id
        elif isinstance(change, statemachine.RingChanged):
            c.ring.CopyFrom(ring_to_pb(change.ring))
        elif isinstance(change, statemachine.ConfigChanged):
            c.config_json = statemodel.dump(change.config).decode()
        else:
            c.feature_flag.CopyFrom(pb.FeatureFlag(name=change.name, enabled=change.enabled))
    return out


def event_from_pb(msg: pb.TopologyEvent) -> statemachine.TopologyEvent:
    snapshot = state_from_pb(msg.snapshot) if msg.HasField("snapshot") else None
    changes: list[statemachine.Change] = []
    for c in msg.changes:
        which = c.WhichOneof("change")
        if which == "node_upserted":
            changes.append(
                statemachine.NodeUpserted(node_from_pb(c.node_upserted), c.node_upserted.version)
            )
        elif which == "node_removed":
            changes.append(statemachine.NodeRemoved(c.node_removed))
        elif which == "ring":
            ring = ring_from_pb(c.ring)
            if ring is not None:
                changes.append(statemachine.RingChanged(ring))
        elif which == "config_json":
            changes.append(statemachine.ConfigChanged(orjson.loads(c.config_json)))
        elif which == "feature_flag":
            changes.append(statemachine.FlagChanged(c.feature_flag.name, c.feature_flag.enabled))
    return statemachine.TopologyEvent(msg.version, tuple(changes), snapshot)
