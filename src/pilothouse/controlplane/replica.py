"""One control-plane replica: a supervised etcd member, the gRPC API, leader election and
compaction, started and stopped together (``pilothouse controlplane serve``).

Like k3s embedding etcd, each replica runs its own etcd member; consensus is etcd's Raft,
and the GitStratum state machine runs as etcd transactions from whichever replica a client
reaches. The replica talks to its own member only: linearizable requests are forwarded
by etcd to its leader, stale reads are served locally, and when the member is down the
replica answers UNAVAILABLE so clients move to another replica. With ``etcd_endpoints``
the replica uses an existing etcd cluster instead of a member of its own.

Joining a running cluster (``join`` endpoints): the replica registers its member with
etcd's MemberAdd before starting it with ``--initial-cluster-state=existing``. A replica
restarted on its data directory rejoins as the member it was (etcd ignores the initial
cluster flags then), so rolling restarts keep membership.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import pathlib
import urllib.parse
from collections.abc import Mapping, Sequence

import grpc.aio

from pilothouse.controlplane import (
    election,
    etcdmember,
    locks,
    maintenance,
    membership,
    service,
    statemachine,
    statemodel,
    wire,
)
from pilothouse.controlplane import etcd as etcd_mod

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_MS = 50
DEFAULT_ELECTION_MS = 500
DEFAULT_ETCD_TIMEOUT = 0.5
#: How long a leaving replica keeps trying to remove its member (Kubernetes gives a pod 30 s).
LEAVE_TIMEOUT = 20.0


@dataclasses.dataclass(frozen=True)
class ReplicaConfig:
    name: str
    data_dir: pathlib.Path
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 9090
    #: Where the etcd member listens (default: the advertised host if it is an IP address).
    listen_host: str | None = None
    #: The supervised member's ports and initial cluster (name -> peer URL).
    client_port: int = 2379
    peer_port: int = 2380
    initial_cluster: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Client endpoints of a running cluster to join (MemberAdd) on first start.
    join: Sequence[str] = ()
    #: Use this etcd cluster instead of supervising a member.
    etcd_endpoints: Sequence[str] = ()
    heartbeat_ms: int = DEFAULT_HEARTBEAT_MS
    election_ms: int = DEFAULT_ELECTION_MS
    election_ttl: int = 3
    #: Bound on each etcd request of the service. Short on purpose: a write forwarded to an
    #: etcd leader that just died is lost and would hang until etcd's own 7 s timeout; the
    #: service answers UNAVAILABLE instead and the client retries (on another replica).
    etcd_timeout: float = DEFAULT_ETCD_TIMEOUT
    min_lock_ttl: int = statemodel.DEFAULT_MIN_TTL_SECONDS
    keep_revisions: int = 10_000
    compaction_interval: float = 60.0
    startup_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.min_lock_ttl * 1000 <= self.election_ms:
            raise ValueError(
                f"min_lock_ttl ({self.min_lock_ttl}s) must be longer than the etcd election "
                f"timeout ({self.election_ms} ms)"
            )

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"


class Replica:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``async with``)."""

    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        self.name = config.name
        self.member: etcdmember.EtcdMember | None = None
        self.etcd: etcd_mod.Etcd | None = None
        self.election: election.LeaderElection | None = None
        self.compactor: maintenance.Compactor | None = None
        self.locks: locks.LockService | None = None
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = config.grpc_port

    # -- ReplicaView (GetStatus) -----------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.election is not None and self.election.is_leader

    @property
    def leader(self) -> str | None:
        return self.election.leader if self.election is not None else None

    @property
    def compacted_version(self) -> int:
        return self.compactor.compacted_to if self.compactor is not None else 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        try:
            endpoints = list(cfg.etcd_endpoints) or [await self._start_member()]
            self.etcd = etcd_mod.Etcd(endpoints, timeout=cfg.etcd_timeout)
            await self._wait_etcd()
            machine = statemachine.StateMachine(self.etcd)
            self.locks = locks.LockService(self.etcd, min_ttl=cfg.min_lock_ttl)
            self.election = election.LeaderElection(self.etcd, cfg.name, ttl=cfg.election_ttl)
            self.compactor = maintenance.Compactor(
                self.etcd,
                keep_revisions=cfg.keep_revisions,
                interval=cfg.compaction_interval,
                # Every replica defragments its own member; only the leader compacts.
                should_compact=lambda: self.is_leader,
            )
            self._tasks = [
                asyncio.create_task(self.election.run(), name=f"election {cfg.name}"),
                asyncio.create_task(self.compactor.run(), name=f"compactor {cfg.name}"),
            ]
            if self.member is not None:
                self._tasks.append(
                    asyncio.create_task(self.member.watchdog(), name=f"watchdog {cfg.name}")
                )
            server = grpc.aio.server()
            wire.add_servicer(service.ControlPlaneService(machine, self.locks, self), server)
            self.port = server.add_insecure_port(cfg.grpc_address)
            if self.port == 0:
                raise OSError(f"cannot listen on {cfg.grpc_address}")
            await server.start()
            self._server = server
            log.info("replica %s serving on %s:%d", cfg.name, cfg.grpc_host, self.port)
        except BaseException:
            await self.stop()
            raise

    async def _start_member(self) -> str:
        cfg = self.config
        data_dir = cfg.data_dir / "etcd"
        initial = dict(cfg.initial_cluster)
        state: str = "new"
        host, listen = member_addresses(cfg.name, initial, cfg.listen_host)
        peer_url = f"http://{host}:{cfg.peer_port}"
        if cfg.join and not data_dir.exists():
            initial = await membership.add_member(cfg.join, cfg.name, peer_url)
            state = "existing"
        member_cfg = etcdmember.MemberConfig(
            name=cfg.name,
            data_dir=data_dir,
            client_port=cfg.client_port,
            peer_port=cfg.peer_port,
            initial_cluster=initial,
            cluster_state=state,  # type: ignore[arg-type]
            host=host,
            listen_host=listen,
            heartbeat_ms=cfg.heartbeat_ms,
            election_ms=cfg.election_ms,
        )
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.member = etcdmember.EtcdMember(member_cfg)
        await self.member.start(supervise=True)
        await self.member.wait_serving(cfg.startup_timeout)
        return member_cfg.probe_url

    async def _wait_etcd(self) -> None:
        """Until etcd answers a linearizable read (a quorum exists): a replica whose peers
        are still starting waits for them rather than failing."""
        assert self.etcd is not None
        async with asyncio.timeout(self.config.startup_timeout):
            while True:
                try:
                    await self.etcd.range(b"/gitstratum/meta/base")
                    return
                except etcd_mod.EtcdError as exc:
                    log.info("replica %s waiting for etcd quorum: %s", self.name, exc)
                await asyncio.sleep(0.2)  # poll interval, inside the startup deadline

    async def leave(self) -> bool:
        """Remove this replica's member from the cluster (a scale-down), before
        :meth:`stop`. Refused -- logged, False -- when the remaining members would have no
        healthy quorum, or when the replica uses an external etcd."""
        if self.member is None or self.etcd is None:
            return False
        try:
            # etcd refuses membership changes until every member has been connected for
            # 5 s, and retries are cheap: a scale-down may wait (within the grace period).
            await membership.remove_member(self.etcd.endpoints, self.name, timeout=LEAVE_TIMEOUT)
        except membership.MembershipError as exc:
            log.warning("replica %s stays a member: %s", self.name, exc)
            return False
        log.info("replica %s left the cluster", self.name)
        return True

    async def stop(self, grace: float = 2.0) -> None:
        """Stop serving (in-flight calls get ``grace`` seconds), resign leadership, stop
        the member. Safe to call more than once."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.locks is not None:
            await self.locks.close()
        if self.etcd is not None:
            await self.etcd.close()
            self.etcd = None
        if self.member is not None:
            await self.member.stop()
            self.member = None

    async def __aenter__(self) -> Replica:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def member_addresses(
    name: str, initial_cluster: Mapping[str, str], listen_host: str | None = None
) -> tuple[str, str]:
    """``(advertised host, listen address)`` of a replica's member: the host its own entry
    in the peer list names (a StatefulSet pod's DNS name with DNS discovery), loopback
    without one; etcd listens on IP addresses only, so a name listens on all interfaces
    unless ``listen_host`` says otherwise."""
    host = (
        urllib.parse.urlsplit(initial_cluster[name]).hostname if name in initial_cluster else None
    )
    host = host or "127.0.0.1"
    return host, listen_host or (host if _is_ipv4(host) else "0.0.0.0")


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True
