"""A small, typed asyncio client for the parts of etcd's v3 API the control plane uses.

The wire code is etcd's own gRPC API: the generated messages and stubs come from ``aetcd``
(a maintained asyncio etcd client), but its high-level client is not used. It hides what a
lock service must see: the revision in every response header (our ``version`` and fencing
tokens are revisions), range compares (``mod_revision`` of a whole prefix, which
UpdateHashRing needs), and the exact revision grouping of watch events (WatchTopology
delivers every version once, so events are cut per revision, never per gRPC message).

Design notes:

* One gRPC channel per :class:`Etcd`. Several endpoints become one ``ipv4:a,b,c`` target
  with gRPC's ``pick_first`` policy, so a dead endpoint is skipped by gRPC itself.
* Reads are linearizable unless ``serializable=True`` (served from the local member, which
  may lag: the "stale read" of the API).
* Every request carries etcd's require-leader flag (see ``_REQUIRE_LEADER``), and unary
  calls are bounded by ``timeout``: a write forwarded to a leader that just died is lost by
  etcd and would otherwise hang for etcd's own 7 s request timeout. A timed-out write may
  still have been applied; callers retry only what is safe to retry.
* Every failure is one of three errors: :class:`EtcdUnavailable` (no answer; the caller
  may retry or fail over), :class:`EtcdCompacted` (a revision below the compaction point),
  or :class:`EtcdError` (anything else, with etcd's message).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import grpc
import grpc.aio
from aetcd import rpc

from pilothouse.controlplane.etcdmodel import (
    KV,
    Deleted,
    EtcdCompacted,
    EtcdError,
    EtcdUnavailable,
    Event,
    EventType,
    MemberInfo,
    Range,
    Revision,
    Status,
    TxnResult,
    create_revision,
    delete,
    get,
    lease_is,
    mod_revision,
    prefix_end,
    put,
    value_is,
)

__all__ = [
    "KV",
    "Deleted",
    "Etcd",
    "EtcdCompacted",
    "EtcdError",
    "EtcdUnavailable",
    "Event",
    "EventType",
    "MemberInfo",
    "Range",
    "Revision",
    "Status",
    "TxnResult",
    "connect",
    "create_revision",
    "delete",
    "get",
    "lease_is",
    "mod_revision",
    "prefix_end",
    "put",
    "value_is",
]

#: etcd's "require leader" metadata: a member that knows it has no leader fails the request
#: at once ("etcdserver: no leader", UNAVAILABLE) instead of holding it until its timeout,
#: and a watch on it is cancelled when it loses its leader. During an election the caller
#: learns within milliseconds that it should retry, elsewhere or a little later.
_REQUIRE_LEADER = (("hasleader", "true"),)

_UNAVAILABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


def _target(endpoints: Sequence[str]) -> str:
    """``host:port`` endpoints (``http://`` accepted) as one gRPC target.

    One endpoint is passed as is (gRPC resolves a name itself). Several become an
    ``ipv4:a,b,c`` list for ``pick_first``; host names among them are resolved here, once,
    because gRPC's address-list targets take IP addresses only.
    """
    hosts = []
    for e in endpoints:
        e = e.strip()
        for scheme in ("http://", "https://"):
            if e.startswith(scheme):
                e = e[len(scheme) :]
        hosts.append(e.rstrip("/"))
    if not hosts or not all(hosts):
        raise ValueError(f"no etcd endpoints in {list(endpoints)!r}")
    if len(hosts) == 1:
        return hosts[0]
    return "ipv4:" + ",".join(_ipv4(h) for h in hosts)


def _ipv4(endpoint: str) -> str:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"etcd endpoint {endpoint!r} is not host:port")
    try:
        ipaddress.IPv4Address(host)
        return endpoint
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"cannot resolve etcd endpoint {endpoint!r}: {exc}") from exc
    return f"{infos[0][4][0]}:{port}"


class Etcd:
    """An etcd v3 client over one gRPC channel; see the module docstring.

    ``timeout`` bounds every unary call; a call that runs out of it raises
    :class:`EtcdUnavailable`. Watches are not bounded by it.
    """

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0) -> None:
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(
            _target(self.endpoints),
            options=[
                ("grpc.lb_policy_name", "pick_first"),
                # Reconnect fast after a member restart: the default backoff grows to 120 s.
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
                ("grpc.max_receive_message_length", 64 << 20),
            ],
        )
        self._kv = rpc.KVStub(self._channel)
        self._lease = rpc.LeaseStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        self._cluster = rpc.ClusterStub(self._channel)
        self._maintenance = rpc.MaintenanceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Etcd:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        try:
            return await method(request, timeout=timeout or self.timeout, metadata=_REQUIRE_LEADER)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    # -- KV --------------------------------------------------------------------------------

    async def range(
        self,
        key: bytes,
        *,
        prefix: bool = False,
        revision: int = 0,
        serializable: bool = False,
        limit: int = 0,
    ) -> Range:
        req = rpc.RangeRequest(
            key=key,
            range_end=prefix_end(key) if prefix else b"",
            revision=revision,
            serializable=serializable,
            limit=limit,
        )
        resp = await self._call(self._kv.Range, req)
        return Range(resp.header.revision, tuple(KV.of(kv) for kv in resp.kvs), resp.more)

    async def put(self, key: bytes, value: bytes, *, lease: int = 0) -> int:
        """Store ``key``; returns the revision of the write."""
        resp = await self._call(self._kv.Put, rpc.PutRequest(key=key, value=value, lease=lease))
        return int(resp.header.revision)

    async def txn(
        self,
        compare: Iterable[Any],
        success: Iterable[Any] = (),
        failure: Iterable[Any] = (),
        *,
        timeout: float | None = None,
    ) -> TxnResult:
        req = rpc.TxnRequest(compare=list(compare), success=list(success), failure=list(failure))
        resp = await self._call(self._kv.Txn, req, timeout)
        results: list[Range | Deleted | None] = []
        for r in resp.responses:
            which = r.WhichOneof("response")
            if which == "response_range":
                rr = r.response_range
                results.append(Range(resp.header.revision, tuple(KV.of(kv) for kv in rr.kvs)))
            elif which == "response_delete_range":
                dr = r.response_delete_range
                results.append(Deleted(int(dr.deleted), tuple(KV.of(kv) for kv in dr.prev_kvs)))
            else:
                results.append(None)
        return TxnResult(bool(resp.succeeded), int(resp.header.revision), tuple(results))

    # -- leases ----------------------------------------------------------------------------

    async def lease_grant(self, ttl: int) -> tuple[int, int]:
        """A new lease of ``ttl`` seconds: ``(id, granted ttl)``."""
        resp = await self._call(self._lease.LeaseGrant, rpc.LeaseGrantRequest(TTL=ttl))
        if resp.error:
            raise EtcdError(resp.error)
        return int(resp.ID), int(resp.TTL)

    async def lease_keepalive(self, lease: int) -> int:
        """Refresh ``lease`` once; its new TTL, or 0 if it has expired or never existed."""
        try:
            async with asyncio.timeout(self.timeout):
                call = self._lease.LeaseKeepAlive(
                    iter([rpc.LeaseKeepAliveRequest(ID=lease)]), metadata=_REQUIRE_LEADER
                )
                try:
                    async for resp in call:
                        return int(resp.TTL)
                finally:
                    call.cancel()
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc
        except TimeoutError as exc:
            raise EtcdUnavailable("lease keepalive timed out") from exc
        raise EtcdUnavailable("lease keepalive stream ended without an answer")

    async def lease_revoke(self, lease: int) -> bool:
        """Revoke ``lease`` (deleting its keys); False if it was already gone."""
        try:
            await self._call(self._lease.LeaseRevoke, rpc.LeaseRevokeRequest(ID=lease))
        except EtcdError as exc:
            if "requested lease not found" in str(exc):
                return False
            raise
        return True

    async def lease_ttl(self, lease: int) -> int:
        """Seconds ``lease`` has left as the leader sees it; -1 if it does not exist."""
        resp = await self._call(self._lease.LeaseTimeToLive, rpc.LeaseTimeToLiveRequest(ID=lease))
        return int(resp.TTL)

    # -- watch -----------------------------------------------------------------------------

    async def watch(
        self, key: bytes, *, prefix: bool = False, start_revision: int = 0, prev_kv: bool = False
    ) -> AsyncIterator[Revision]:
        """Changes of ``key`` (or the prefix) from ``start_revision``, one :class:`Revision`
        per etcd revision, in order. Raises :class:`EtcdCompacted` when ``start_revision``
        was compacted, :class:`EtcdUnavailable` when the stream breaks.

        Progress notifications (``Revision`` with no events) are passed on so an idle
        watcher still learns the store's current revision."""
        create = rpc.WatchCreateRequest(
            key=key,
            range_end=prefix_end(key) if prefix else b"",
            start_revision=start_revision,
            progress_notify=True,
            prev_kv=prev_kv,
        )
        done = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield rpc.WatchRequest(create_request=create)
            await done.wait()

        call = self._watch.Watch(requests(), metadata=_REQUIRE_LEADER)
        try:
            pending: list[Event] = []
            pending_rev = 0
            async for resp in call:
                if resp.compact_revision:
                    raise EtcdCompacted(int(resp.compact_revision))
                if resp.canceled:
                    reason = resp.cancel_reason or "no reason given"
                    if "no leader" in reason:  # require-leader: the member lost its leader
                        raise EtcdUnavailable(f"watch canceled: {reason}")
                    raise EtcdError(f"watch canceled: {reason}")
                if resp.created and not resp.events:
                    continue
                if not resp.events:
                    yield Revision(int(resp.header.revision), ())
                    continue
                for ev in resp.events:
                    kv = KV.of(ev.kv)
                    if pending and kv.mod_revision != pending_rev:
                        yield Revision(pending_rev, tuple(pending))
                        pending = []
                    pending_rev = kv.mod_revision
                    typ = EventType.DELETE if ev.type == rpc.Event.DELETE else EventType.PUT
                    prev = KV.of(ev.prev_kv) if ev.HasField("prev_kv") else None
                    pending.append(Event(typ, kv, prev))
                # etcd never splits one revision across responses (no fragmenting asked).
                yield Revision(pending_rev, tuple(pending))
                pending = []
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc
        finally:
            done.set()
            call.cancel()
        raise EtcdUnavailable("watch stream ended")

    # -- cluster and maintenance -------------------------------------------------------------

    async def status(self, timeout: float | None = None) -> Status:
        resp = await self._call(self._maintenance.Status, rpc.StatusRequest(), timeout)
        return Status(
            int(resp.header.member_id),
            int(resp.leader),
            int(resp.raftTerm),
            int(resp.raftIndex),
            int(resp.header.revision),
            int(resp.dbSize),
            int(resp.dbSizeInUse),
            tuple(resp.errors),
        )

    async def members(self) -> list[MemberInfo]:
        resp = await self._call(self._cluster.MemberList, rpc.MemberListRequest(linearizable=True))
        return [
            MemberInfo(int(m.ID), m.name, tuple(m.peerURLs), tuple(m.clientURLs), bool(m.isLearner))
            for m in resp.members
        ]

    async def compact(
        self, revision: int, *, physical: bool = False, timeout: float | None = None
    ) -> None:
        try:
            await self._call(
                self._kv.Compact,
                rpc.CompactionRequest(revision=revision, physical=physical),
                timeout,
            )
        except EtcdError as exc:
            if "required revision has been compacted" in str(exc):
                return  # someone compacted at least this far already
            raise

    async def defragment(self, timeout: float = 60.0) -> None:
        await self._call(self._maintenance.Defragment, rpc.DefragmentRequest(), timeout)


#: etcd's transient failures, whatever status code carries them: a deadline that expired on
#: the server side comes back as UNKNOWN "context deadline exceeded", for instance.
_TRANSIENT = (
    "context deadline exceeded",
    "context canceled",
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "etcdserver: no leader",
    "etcdserver: too many requests",
    "etcdserver: server stopped",
)


def _error(exc: grpc.aio.AioRpcError) -> EtcdError:
    details = exc.details() or exc.code().name
    if exc.code() in _UNAVAILABLE or any(t in details for t in _TRANSIENT):
        return EtcdUnavailable(f"etcd unavailable: {details}")
    if "required revision has been compacted" in details:
        return EtcdCompacted(0)
    return EtcdError(details)


@contextlib.asynccontextmanager
async def connect(endpoints: Sequence[str], *, timeout: float = 5.0) -> AsyncIterator[Etcd]:
    client = Etcd(endpoints, timeout=timeout)
    try:
        yield client
    finally:
        await client.close()
