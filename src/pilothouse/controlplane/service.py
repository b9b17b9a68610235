"""The gRPC ControlPlane service: each RPC validated, applied through the state machine or
the lock service, and answered with a proper status code.

Errors: a :class:`~pilothouse.controlplane.errors.ControlPlaneError` becomes its status code
and message; a held lock also carries ``lock-owner``, ``lock-token`` and
``lock-remaining-seconds`` trailing metadata so clients need not parse messages. Anything
else is a bug: logged with its traceback and answered INTERNAL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
import grpc.aio
import orjson

from pilothouse.controlplane import errors, keys, locks, ringmodel, statemachine, statemodel, wire
from pilothouse.controlplane.proto import controlplane_pb2 as pb

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class ReplicaView(Protocol):
    """What GetStatus reports about the replica serving it."""

    name: str

    @property
    def is_leader(self) -> bool: ...

    @property
    def leader(self) -> str | None: ...

    @property
    def compacted_version(self) -> int: ...


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    if isinstance(exc, errors.LockHeld):
        context.set_trailing_metadata(
            (
                ("lock-owner", exc.owner),
                ("lock-token", str(exc.token)),
                ("lock-remaining-seconds", str(exc.remaining_seconds)),
            )
        )
    if isinstance(exc, errors.ControlPlaneError):
        await context.abort(exc.code, str(exc))
    log.exception("control plane request failed", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {exc!r}")


def _unary(
    fn: Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]],
) -> Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]]:
    @functools.wraps(fn)
    async def handler(self: Any, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
        try:
            return await fn(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)
            raise AssertionError("unreachable: abort raises") from exc

    return handler


class ControlPlaneService(wire.Servicer):  # type: ignore[misc]
    def __init__(
        self,
        machine: statemachine.StateMachine,
        lock_service: locks.LockService,
        replica: ReplicaView,
    ) -> None:
        self.machine = machine
        self.locks = lock_service
        self.replica = replica

    @_unary
    async def GetClusterState(
        self, request: pb.GetClusterStateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ClusterState:
        return wire.state_to_pb(await self.machine.read(stale=request.stale))

    @_unary
    async def AddNode(
        self, request: pb.AddNodeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.NodeResponse:
        if not request.HasField("node"):
            raise errors.InvalidArgument("node is required")
        node, version = await self.machine.add_node(wire.node_from_pb(request.node, request=True))
        return pb.NodeResponse(node=wire.node_to_pb(node, version), version=version)

    @_unary
    async def RemoveNode(
        self, request: pb.RemoveNodeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VersionResponse:
        return pb.VersionResponse(version=await self.machine.remove_node(request.node_id))

    @_unary
    async def UpdateNodeStatus(
        self, request: pb.UpdateNodeStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.NodeResponse:
        status = wire.status_from_pb(request.status)
        node, version = await self.machine.update_node_status(request.node_id, status)
        return pb.NodeResponse(node=wire.node_to_pb(node, version), version=version)

    @_unary
    async def AcquireLock(
        self, request: pb.AcquireLockRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.LockResponse:
        lock, version = await self.locks.acquire(request.ref, request.owner, request.ttl_seconds)
        return pb.LockResponse(lock=wire.lock_to_pb(lock), version=version)

    @_unary
    async def RenewLock(
        self, request: pb.RenewLockRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.LockResponse:
        lock, version = await self.locks.renew(request.ref, request.owner, request.token)
        return pb.LockResponse(lock=wire.lock_to_pb(lock), version=version)

    @_unary
    async def ReleaseLock(
        self, request: pb.ReleaseLockRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReleaseLockResponse:
        released, version = await self.locks.release(request.ref, request.owner, request.token)
        return pb.ReleaseLockResponse(released=released, version=version)

    @_unary
    async def GetHashRing(
        self, request: pb.GetHashRingRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.HashRing:
        return wire.ring_to_pb(await self.machine.get_ring(stale=request.stale))

    @_unary
    async def UpdateHashRing(
        self, request: pb.UpdateHashRingRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.HashRing:
        config = None
        if request.config_json:
            try:
                config = _ring_config(orjson.loads(request.config_json))
            except (orjson.JSONDecodeError, ringmodel.RingError, TypeError) as exc:
                raise errors.InvalidArgument(f"invalid ring config: {exc}") from exc
        kind = wire.kind_from_pb(request.node_kind, default=statemodel.NodeKind.OBJECT)
        return wire.ring_to_pb(await self.machine.update_hash_ring(config, kind))

    @_unary
    async def SetClusterConfig(
        self, request: pb.SetClusterConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VersionResponse:
        version = await self.machine.set_cluster_config(
            request.config_json, request.expected_version
        )
        return pb.VersionResponse(version=version)

    @_unary
    async def SetFeatureFlag(
        self, request: pb.SetFeatureFlagRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VersionResponse:
        version = await self.machine.set_feature_flag(request.name, request.enabled)
        return pb.VersionResponse(version=version)

    @_unary
    async def RestoreSnapshot(
        self, request: pb.RestoreSnapshotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VersionResponse:
        return pb.VersionResponse(version=await self.machine.restore(request.snapshot_json))

    @_unary
    async def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReplicaStatus:
        etcd = self.machine.etcd
        with errors.from_etcd():
            status = await etcd.status()
            members = await etcd.members()
            base = await etcd.range(keys.BASE, serializable=True)
        # The member's own revision: a version without reading the whole state.
        state_version = statemachine.base_of(base.kvs) + status.revision
        return pb.ReplicaStatus(
            name=self.replica.name,
            is_leader=self.replica.is_leader,
            leader=self.replica.leader or "",
            version=state_version,
            etcd_member_id=f"{status.member_id:x}",
            etcd_leader_id=f"{status.leader:x}",
            raft_term=status.raft_term,
            members=sorted(m.name for m in members),
            compacted_version=self.replica.compacted_version,
        )

    async def WatchTopology(
        self, request: pb.WatchTopologyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.TopologyEvent]:
        try:
            async for event in self.machine.watch_topology(request.from_version):
                yield wire.event_to_pb(event)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)


def _ring_config(doc: object) -> ringmodel.RingConfig:
    """A ring config from JSON: the stored form (``bounded_load_epsilon_ppm``) or the
    friendlier ``bounded_load_epsilon``; omitted fields take their defaults."""
    if not isinstance(doc, dict):
        raise TypeError("ring config must be a JSON object")
    known = {f for f in ringmodel.RingConfig().to_json()} | {"bounded_load_epsilon"}
    unknown = set(doc) - known
    if unknown:
        raise TypeError(f"unknown ring config fields: {', '.join(sorted(unknown))}")
    eps = doc.get("bounded_load_epsilon")
    ppm = doc.get("bounded_load_epsilon_ppm")
    if eps is not None and ppm is not None:
        raise TypeError("give bounded_load_epsilon or bounded_load_epsilon_ppm, not both")
    if ppm is not None:
        if isinstance(ppm, bool) or not isinstance(ppm, int):
            raise TypeError(f"bounded_load_epsilon_ppm must be an integer, got {ppm!r}")
        eps = ppm / ringmodel.PPM
    defaults = ringmodel.RingConfig()
    return ringmodel.RingConfig(
        vnodes_per_weight=doc.get("vnodes_per_weight", defaults.vnodes_per_weight),
        replication_factor=doc.get("replication_factor", defaults.replication_factor),
        hash_algorithm=doc.get("hash_algorithm", defaults.hash_algorithm),
        bounded_load_epsilon=eps,
        partitions_log2=doc.get("partitions_log2", defaults.partitions_log2),
    )
