"""Changing the etcd membership of a running control plane: list, add, remove members.

Every call takes a list of client endpoints (``http://host:port``) and tries them in turn, in
rounds until its timeout: an endpoint that is down, or whose member has lost quorum, is
skipped, and the final error names what every endpoint answered. Rounds matter because etcd
refuses reconfiguration ("unhealthy cluster") until every member has been connected for 5 s,
which a freshly started cluster has not.

aetcd is untyped, so its results are copied into :class:`Member`. The member list is read
through aetcd's gRPC stub directly, because aetcd's wrapper drops ``isLearner``; it is a
serializable read, served by any member even without quorum, so a broken cluster can still be
inspected.

Safety rules, on top of etcd's own ``--strict-reconfig-check``:

* :func:`add_member` is idempotent: if a not-yet-started member with the same peer URL exists
  (an earlier attempt whose answer was lost), it is reused rather than added twice.
* :func:`remove_member` refuses (:class:`QuorumError`) when the voting members that would
  remain have fewer healthy members (``GET /health`` on their client URLs) than their own
  quorum. etcd's check judges from the leader's peer connections and, without a leader, can
  only time out; this one answers at once and names the unhealthy members -- a removal that
  leaves no healthy quorum would leave a cluster unable to commit, even the member's return.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aetcd
import aetcd.exceptions
import aetcd.rpc
import aiohttp
import grpc

from pilothouse.controlplane.peers import validate_member_name, validate_peer_url

T = TypeVar("T")

# The errors that mean "this endpoint cannot serve us now": try the next one.
_RETRYABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_MIN_ATTEMPT = 2.0
_ROUND_PAUSE = 0.2
_NOT_FOUND = "etcdserver: member not found"


class MembershipError(RuntimeError):
    """Base of the errors of this module."""


class _TryAgain(Exception):
    """A transient refusal: try the next endpoint (or the next round)."""


_RETRYABLE_ERRORS = (
    _TryAgain,
    aetcd.exceptions.ConnectionFailedError,
    aetcd.exceptions.ConnectionTimeoutError,
    OSError,  # includes TimeoutError
)


class NotAMember(MembershipError, LookupError):
    """No member has the given name."""


class AlreadyAMember(MembershipError):
    """A started member already has the given name or peer URL."""


class QuorumError(MembershipError):
    """The change would leave the cluster without a healthy quorum."""


class NoEndpointAvailable(MembershipError):
    """No endpoint could serve the request."""


@dataclass(frozen=True)
class Member:
    """One etcd member as the cluster records it. A member that was added but has not started
    yet has an empty ``name`` and no client URLs."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def started(self) -> bool:
        return bool(self.name)


def quorum(voters: int) -> int:
    """How many of ``voters`` members must be healthy for the cluster to commit."""
    return voters // 2 + 1


async def list_members(endpoints: str | Sequence[str], *, timeout: float = 5.0) -> list[Member]:
    """The cluster's members, from the first endpoint that answers."""
    return await _with_client(endpoints, timeout, _list)


async def add_member(
    endpoints: str | Sequence[str], name: str, peer_url: str, *, timeout: float = 10.0
) -> dict[str, str]:
    """Add ``name`` at ``peer_url``; return the ``initial_cluster`` mapping the new member
    must be started with (with ``cluster_state="existing"``)."""
    validate_member_name(name)
    peer_url = validate_peer_url(peer_url)

    async def op(client: Any, attempt: float) -> dict[str, str]:
        members = await _list(client, attempt)
        pending = None
        for m in members:
            if m.name == name:
                raise AlreadyAMember(f"{name!r} is already a member (id {m.id:x})")
            if peer_url in m.peer_urls:
                if m.started:
                    raise AlreadyAMember(f"peer URL {peer_url} belongs to member {m.name!r}")
                pending = m
            elif not m.started:
                # Its name is unknown, so no initial cluster could include it; and etcd
                # refuses reconfiguration while a voting member is not connected anyway.
                raise MembershipError(
                    f"member {m.id:x} at {', '.join(m.peer_urls)} was added but never started; "
                    "start or remove it before adding another"
                )
        if pending is not None:
            new_id = pending.id
        else:
            try:
                new_id = int((await client.add_member([peer_url])).id)
            except aetcd.exceptions.ClientError as exc:
                # etcd derives a new member's ID from its peer URLs and the current second,
                # so re-adding a peer URL within a second of its removal hits the removed
                # ID's tombstone ("member not found"); a moment later it succeeds.
                if _NOT_FOUND not in str(exc):
                    raise
                raise _TryAgain(str(exc)) from exc
        cluster = {m.name: m.peer_urls[0] for m in members if m.id != new_id}
        cluster[name] = peer_url
        return cluster

    return await _with_client(endpoints, timeout, op)


async def remove_member(
    endpoints: str | Sequence[str],
    name: str,
    *,
    timeout: float = 10.0,
    health_timeout: float = 1.0,
) -> None:
    """Remove the member called ``name`` -- or, given a peer URL, the member with that peer
    URL, which is how a member that was added but never started (and so has no name yet) is
    removed. :class:`NotAMember` if there is none, :class:`QuorumError` if the remaining voters
    would have no healthy quorum."""

    removed: list[int] = []

    async def op(client: Any, attempt: float) -> None:
        members = await _list(client, attempt)
        by_url = "://" in name
        target = next(
            (m for m in members if (name in m.peer_urls if by_url else m.name == name)), None
        )
        if target is None and removed and all(m.id != removed[0] for m in members):
            return  # an earlier attempt removed it, but its answer was lost
        if target is None:
            known = ", ".join(sorted(m.name or f"<unstarted {m.id:x}>" for m in members))
            raise NotAMember(f"no member is called {name!r} (members: {known})")
        if not target.is_learner:
            remaining = [m for m in members if m.id != target.id and not m.is_learner]
            await _check_quorum(name, remaining, health_timeout)
        removed[:] = [target.id]
        try:
            await client.remove_member(target.id)
        except aetcd.exceptions.ClientError as exc:
            # Our list was stale (another member had already applied the removal): done.
            if _NOT_FOUND not in str(exc):
                raise

    await _with_client(endpoints, timeout, op)


async def member_health(
    client_urls: Sequence[str],
    *,
    timeout: float = 1.0,
    session: aiohttp.ClientSession | None = None,
) -> bool:
    """Whether any of a member's client URLs answers ``/health`` with ``"true"``."""
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await member_health(client_urls, timeout=timeout, session=own)
    for url in client_urls:
        try:
            async with (
                asyncio.timeout(timeout),
                session.get(url.rstrip("/") + "/health", allow_redirects=False) as resp,
            ):
                body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            continue
        if isinstance(body, dict) and body.get("health") == "true":
            return True
    return False


async def _check_quorum(name: str, remaining: list[Member], health_timeout: float) -> None:
    if not remaining:
        raise QuorumError(f"refusing to remove {name!r}: it is the last voting member")
    async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
        probes = [
            group.create_task(member_health(m.client_urls, timeout=health_timeout, session=session))
            for m in remaining
        ]
    healthy = [m.name for m, probe in zip(remaining, probes, strict=True) if probe.result()]
    need = quorum(len(remaining))
    if len(healthy) < need:
        unhealthy = [m.name or f"<unstarted {m.id:x}>" for m in remaining if m.name not in healthy]
        raise QuorumError(
            f"refusing to remove {name!r}: the {len(remaining)} remaining voting members need "
            f"{need} healthy for quorum, but only {len(healthy)} are "
            f"(healthy: {', '.join(healthy) or 'none'}; unhealthy: {', '.join(unhealthy)})"
        )


async def _list(client: Any, timeout: float) -> list[Member]:
    await client.connect()
    # Not linearizable: any member answers from its own view, even without a leader.
    response = await client.clusterstub.MemberList(
        aetcd.rpc.MemberListRequest(linearizable=False), timeout=timeout, metadata=client.metadata
    )
    return [
        Member(
            id=int(m.ID),
            name=str(m.name),
            peer_urls=tuple(str(u) for u in m.peerURLs),
            client_urls=tuple(str(u) for u in m.clientURLs),
            is_learner=bool(m.isLearner),
        )
        for m in response.members
    ]


def _host_port(endpoint: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"endpoint {endpoint!r} is not http://host:port")
    return parts.hostname, parts.port


async def _with_client(
    endpoints: str | Sequence[str], timeout: float, op: Callable[[Any, float], Awaitable[T]]
) -> T:
    """Run ``op(client, attempt_timeout)`` against each endpoint in turn, in rounds, until one
    attempt does not fail with a retryable error or ``timeout`` seconds have passed.

    Rounds repeat because "unavailable" is often transient: a member that just lost its leader,
    or etcd refusing reconfiguration until every member has been connected for 5 s. Each
    attempt gets a share of the time left, so one hung endpoint cannot use it all.
    """
    targets = [endpoints] if isinstance(endpoints, str) else list(endpoints)
    if not targets:
        raise ValueError("no etcd endpoints given")
    addresses = list(zip(targets, [_host_port(e) for e in targets], strict=True))
    deadline = time.monotonic() + timeout
    failures: dict[str, str] = {}
    while True:
        for endpoint, (host, port) in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempt = min(remaining, max(_MIN_ATTEMPT, timeout / len(addresses)))
            client = aetcd.Client(host=host, port=port, timeout=attempt)
            try:
                async with asyncio.timeout(attempt):
                    return await op(client, attempt)
            except grpc.aio.AioRpcError as exc:
                failure = f"{exc.code().name}: {exc.details()}"
                if exc.code() not in _RETRYABLE_CODES:
                    raise MembershipError(f"{endpoint}: {failure}") from exc
                failures[endpoint] = failure
            except _RETRYABLE_ERRORS as exc:
                failures[endpoint] = f"{type(exc).__name__}: {exc or 'timed out'}"
            except aetcd.exceptions.ClientError as exc:
                raise MembershipError(f"{endpoint}: {type(exc).__name__}: {exc}") from exc
            finally:
                await client.close()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = "; ".join(f"{e}: {f}" for e, f in failures.items())
            raise NoEndpointAvailable(
                f"no etcd endpoint served the request in {timeout}s: {detail}"
            )
        await asyncio.sleep(min(_ROUND_PAUSE, remaining))
