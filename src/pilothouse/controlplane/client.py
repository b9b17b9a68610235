"""``ControlPlaneClient``: the control plane's API for other components, with endpoint
failover, retries, and a locally cached hash ring.

Retries. UNAVAILABLE (no quorum, a replica down, a timeout) moves to the next endpoint
and retries with exponential backoff and full jitter until ``retry_timeout``. A write that
failed that way may have been applied, so every write is retried only where a retry is
safe: puts of a whole value (config, flags, status, ring) and lock calls are idempotent
(acquire is idempotent per owner, see :mod:`~pilothouse.controlplane.locks`); AddNode and
RemoveNode check, on a retry, whether their first attempt already did the work
(ALREADY_EXISTS with the same node, NOT_FOUND after a remove) and report success then.

Errors are the classes of :mod:`~pilothouse.controlplane.errors`, rebuilt from the status
code (a held lock comes back as :class:`~pilothouse.controlplane.errors.LockHeld` with
its holder, token and remaining seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
import orjson

from pilothouse.controlplane import errors, ringmodel, statemachine, statemodel, wire
from pilothouse.controlplane.proto import controlplane_pb2 as pb
from pilothouse.controlplane.statemodel import ClusterState, LockInfo, NodeInfo, NodeKind

T = TypeVar("T")

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
#: Reconnect to a restarted replica within a second (gRPC's default backoff grows to 120 s).
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def error_from_rpc(exc: grpc.aio.AioRpcError) -> errors.ControlPlaneError:
    meta = {k: v for k, v in (exc.trailing_metadata() or ()) if isinstance(v, str)}
    message = exc.details() or exc.code().name
    if "lock-owner" in meta:
        err = errors.LockHeld(
            "", meta["lock-owner"], int(meta["lock-token"]), int(meta["lock-remaining-seconds"])
        )
        err.args = (message,)
        return err
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.Unavailable(f"deadline exceeded: {message}")
    cls = errors.BY_CODE.get(exc.code())
    if cls is not None:
        return cls(message)
    other = errors.ControlPlaneError(message)
    other.code = exc.code()  # keep what the server said, even without a class of its own
    return other


class ControlPlaneClient:
    """A client of a control-plane cluster (``host:port`` of each replica's gRPC API).

    ``timeout`` bounds each attempt; ``retry_timeout`` bounds all retries of one call.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        retry_timeout: float = 15.0,
        backoff: float = 0.05,
        max_backoff: float = 0.25,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one control-plane endpoint is required")
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self.retry_timeout = retry_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._channels = [
            grpc.aio.insecure_channel(e, options=_CHANNEL_OPTIONS) for e in self.endpoints
        ]
        self._stubs = [wire.stub(c) for c in self._channels]
        self._current = 0

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def __aenter__(self) -> ControlPlaneClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def endpoint(self) -> str:
        """The endpoint the next call goes to first."""
        return self.endpoints[self._current]

    async def _call(
        self,
        method: str,
        request: Any,
        *,
        on_retry_error: Callable[[errors.ControlPlaneError], Awaitable[Any] | None] | None = None,
    ) -> Any:
        deadline = time.monotonic() + self.retry_timeout
        attempt = 0
        while True:
            stub = self._stubs[self._current]
            started = time.monotonic()
            try:
                return await getattr(stub, method)(request, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                err = error_from_rpc(exc)
                if exc.code() not in _RETRYABLE:
                    if attempt and on_retry_error is not None:
                        settled = on_retry_error(err)
                        if settled is not None:
                            return await settled
                    raise err from exc
                if time.monotonic() >= deadline:
                    raise err from exc
            attempt += 1
            self._advance()
            await self._pause(attempt, time.monotonic() - started, deadline)

    def _advance(self) -> None:
        """Move to the next endpoint, skipping those whose connection is known to be down
        (unless all are)."""
        n = len(self._channels)
        for step in range(1, n + 1):
            i = (self._current + step) % n
            if self._channels[i].get_state() != grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                self._current = i
                return
        self._current = (self._current + 1) % n

    async def _pause(self, attempt: int, spent: float, deadline: float) -> None:
        """Back off between rounds over the endpoints, never within one: another replica may
        answer at once. Full jitter, so clients that failed together do not retry together;
        and an attempt that ran into its timeout has waited already."""
        n = len(self._channels)
        if attempt % n and n > 1:
            return
        rounds = max(1, attempt // n)
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2**rounds)) - spent
        if delay > 0:
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))

    # -- reads -----------------------------------------------------------------------------

    async def get_cluster_state(self, *, stale: bool = False) -> ClusterState:
        msg = await self._call("GetClusterState", pb.GetClusterStateRequest(stale=stale))
        return wire.state_from_pb(msg)

    async def get_hash_ring(self, *, stale: bool = False) -> statemodel.RingState | None:
        return wire.ring_from_pb(
            await self._call("GetHashRing", pb.GetHashRingRequest(stale=stale))
        )

    async def status(self) -> pb.ReplicaStatus:
        """The status of the replica at :attr:`endpoint` (no failover: it is about one)."""
        try:
            msg: pb.ReplicaStatus = await self._stubs[self._current].GetStatus(
                pb.GetStatusRequest(), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return msg

    # -- nodes -----------------------------------------------------------------------------

    async def add_node(self, node: NodeInfo) -> tuple[NodeInfo, int]:
        async def settled(err: errors.ControlPlaneError) -> pb.NodeResponse:
            state = await self.get_cluster_state()
            mine = state.nodes.get(node.id)
            if mine is not None and _same_node(mine, node):
                # The same shape as AddNode's answer: _call returns what this returns.
                version = state.node_versions.get(node.id, state.version)
                return pb.NodeResponse(node=wire.node_to_pb(mine, version), version=version)
            raise err

        def check(err: errors.ControlPlaneError) -> Awaitable[Any] | None:
            return settled(err) if isinstance(err, errors.AlreadyExists) else None

        msg = await self._call(
            "AddNode", pb.AddNodeRequest(node=wire.node_to_pb(node)), on_retry_error=check
        )
        return wire.node_from_pb(msg.node), int(msg.version)

    async def remove_node(self, node_id: str) -> int:
        async def gone() -> pb.VersionResponse:
            return pb.VersionResponse(version=(await self.get_cluster_state()).version)

        def check(err: errors.ControlPlaneError) -> Awaitable[Any] | None:
            return gone() if isinstance(err, errors.NotFound) else None

        msg = await self._call(
            "RemoveNode", pb.RemoveNodeRequest(node_id=node_id), on_retry_error=check
        )
        return int(msg.version)

    async def update_node_status(
        self, node_id: str, status: ringmodel.NodeStatus
    ) -> tuple[NodeInfo, int]:
        req = pb.UpdateNodeStatusRequest(node_id=node_id, status=wire.STATUS_TO_PB[status])
        msg = await self._call("UpdateNodeStatus", req)
        return wire.node_from_pb(msg.node), int(msg.version)

    # -- locks -----------------------------------------------------------------------------

    async def acquire_lock(self, ref: str, owner: str, ttl_seconds: int) -> LockInfo:
        req = pb.AcquireLockRequest(ref=ref, owner=owner, ttl_seconds=ttl_seconds)
        try:
            msg = await self._call("AcquireLock", req)
        except errors.LockHeld as exc:
            exc.ref = ref
            raise
        return wire.lock_from_pb(msg.lock)

    async def renew_lock(self, ref: str, owner: str, token: int) -> LockInfo:
        msg = await self._call("RenewLock", pb.RenewLockRequest(ref=ref, owner=owner, token=token))
        return wire.lock_from_pb(msg.lock)

    async def release_lock(self, ref: str, owner: str, token: int) -> bool:
        req = pb.ReleaseLockRequest(ref=ref, owner=owner, token=token)
        return bool((await self._call("ReleaseLock", req)).released)

    # -- ring, config, flags, snapshots ----------------------------------------------------

    async def update_hash_ring(
        self, config: dict[str, Any] | None = None, node_kind: NodeKind = NodeKind.OBJECT
    ) -> statemodel.RingState | None:
        req = pb.UpdateHashRingRequest(
            config_json=orjson.dumps(config).decode() if config else "",
            node_kind=wire.KIND_TO_PB[node_kind],
        )
        return wire.ring_from_pb(await self._call("UpdateHashRing", req))

    async def set_cluster_config(self, config: dict[str, Any], expected_version: int = 0) -> int:
        req = pb.SetClusterConfigRequest(
            config_json=orjson.dumps(config).decode(), expected_version=expected_version
        )
        return int((await self._call("SetClusterConfig", req)).version)

    async def set_feature_flag(self, name: str, enabled: bool) -> int:
        req = pb.SetFeatureFlagRequest(name=name, enabled=enabled)
        return int((await self._call("SetFeatureFlag", req)).version)

    async def save_snapshot(self) -> dict[str, Any]:
        """The ``ClusterStateSnapshot`` JSON document at the current version."""
        return (await self.get_cluster_state()).to_snapshot()

    async def restore_snapshot(self, snapshot: dict[str, Any] | str | bytes) -> int:
        raw = snapshot if isinstance(snapshot, str | bytes) else orjson.dumps(snapshot)
        text = raw.decode() if isinstance(raw, bytes) else raw
        req = pb.RestoreSnapshotRequest(snapshot_json=text)
        return int((await self._call("RestoreSnapshot", req)).version)

    # -- watch -----------------------------------------------------------------------------

    async def watch_topology(
        self, from_version: int = 0
    ) -> AsyncIterator[statemachine.TopologyEvent]:
        """Topology events after ``from_version`` (0: first a snapshot), resuming on
        another replica after a failure without gaps or duplicates. When the history to
        resume from was compacted, it starts again with a snapshot event."""
        version = from_version
        deadline = time.monotonic() + self.retry_timeout
        attempt = 0
        while True:
            call = self._stubs[self._current].WatchTopology(
                pb.WatchTopologyRequest(from_version=version)
            )
            try:
                async for msg in call:
                    event = wire.event_from_pb(msg)
                    if event.version <= version and event.snapshot is None:
                        continue  # never twice, whatever a replica does
                    version = event.version
                    attempt = 0
                    deadline = time.monotonic() + self.retry_timeout
                    yield event
                raise errors.Unavailable("the topology stream ended")
            except (grpc.aio.AioRpcError, errors.Unavailable) as exc:
                code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
                if code == grpc.StatusCode.OUT_OF_RANGE:
                    version = 0  # compacted: start over from a full snapshot
                elif code is not None and code not in _RETRYABLE:
                    assert isinstance(exc, grpc.aio.AioRpcError)
                    raise error_from_rpc(exc) from exc
                elif time.monotonic() >= deadline:
                    raise errors.Unavailable(f"topology watch failed: {exc}") from exc
            finally:
                call.cancel()
            attempt += 1
            self._current = (self._current + 1) % len(self._stubs)
            delay = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
            await asyncio.sleep(delay)


def _same_node(a: NodeInfo, b: NodeInfo) -> bool:
    return (a.id, a.kind, a.address, a.zone, a.weight) == (
        b.id,
        b.kind,
        b.address,
        b.zone,
        b.weight,
    )


class RingCache:
    """A hash ring kept current by WatchTopology; ``nodes_for`` answers locally.

    Stale routing is tolerable in GitStratum (objects are immutable; see the design), so
    lookups never wait for the network: they use the newest ring received.
    """

    def __init__(self, client: ControlPlaneClient) -> None:
        self.client = client
        self.ring: Any = None  # ring.HashRing, built lazily to keep this import light
        self.version = 0
        self.ring_version = 0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_ready(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def nodes_for(self, key: str | bytes, replicas: int | None = None) -> list[ringmodel.RingNode]:
        if self.ring is None:
            raise errors.FailedPrecondition("no hash ring yet (none set, or not received)")
        nodes: list[ringmodel.RingNode] = self.ring.nodes_for(key, replicas)
        return nodes

    async def _follow(self) -> None:
        from pilothouse.controlplane import ring as ring_mod

        async for event in self.client.watch_topology(0):
            rings = [c.ring for c in event.changes if isinstance(c, statemachine.RingChanged)]
            if event.snapshot is not None and event.snapshot.ring is not None:
                rings.append(event.snapshot.ring)
            for state in rings:
                self.ring = ring_mod.HashRing.from_topology(state.topology)
                self.ring_version = state.version
            self.version = event.version
            self._ready.set()
