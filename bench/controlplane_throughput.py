"""Lock throughput: three ways of taking the same lock, and the driver that times them.

**Lock throughput.** One op is a contention-free acquire + release of a lock: each client
(an asyncio task running ops back to back) has a ref of its own, fresh for every case
(``refs/heads/bench/<case>/<client>``), so no op ever waits for another client's lock and
the figures are the cost of the lock protocol, not of contention. The same workload runs
three ways, at each ``--clients`` concurrency (default 1, 16, 64), for ``--duration``
seconds (default 5) after ``--warmup`` seconds (default 1), the three taking turns per
concurrency (``--rounds`` times; a case's ops/s is the median round, its latencies are
pooled over rounds):

* ``gRPC API`` -- ``ControlPlaneClient(all replica endpoints)``: ``acquire_lock`` then
  ``release_lock`` with the token. The client's calls go to its current endpoint (the
  entry replica, see :mod:`bench.controlplane`, while it answers), whose ``LockService``
  talks to its own etcd member.
* ``LockService in-process`` -- the service's own :class:`~pilothouse.controlplane.locks.
  LockService` in this process over ``Etcd(all etcd endpoints)``: exactly the etcd
  requests the service sends (lease grant, create txn; read txn, compare-and-delete txn,
  lease revoke in the background), without the gRPC hop and the replica process.
* ``raw etcd`` -- the least a client of etcd itself must send for the same lock, with
  ``Etcd(all etcd endpoints)``: ``lease_grant``, ``txn(create_revision == 0 -> put with
  the lease)``, then ``txn(create_revision == the one created -> delete)`` and
  ``lease_revoke``, each awaited. The target is measured against this one.

By default all tasks of a path share one client (one gRPC channel per endpoint), as the
tasks of one process would; ``--client-per-task`` gives every task its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bench.controlplane_cpu import CpuGroups
from bench.controlplane_figures import Summary, combine, summarize
from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane import keys, locks, statemodel
from pilothouse.controlplane.client import ControlPlaneClient

TTL_SECONDS = 10
OWNER = "bench-{path}-{client}"
GRPC, SERVICE, RAW = "gRPC API", "LockService in-process", "raw etcd"
PATHS = (GRPC, SERVICE, RAW)

Log = Callable[[str], None]


# -- the three paths -------------------------------------------------------------------------


def ref_of(case: str, client: int) -> str:
    return f"refs/heads/bench/{case}/{client}"


class Path:
    """One way of doing the workload: :meth:`op` is one acquire + release by client ``i``."""

    label = ""

    async def open(self, clients: int, case: str) -> None:
        raise NotImplementedError

    async def op(self, i: int) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class GrpcPath(Path):
    label = GRPC

    def __init__(self, endpoints: Sequence[str], *, per_task: bool) -> None:
        self.endpoints = list(endpoints)
        self.per_task = per_task
        self.clients: list[ControlPlaneClient] = []
        self.refs: list[str] = []

    async def open(self, clients: int, case: str) -> None:
        if self.per_task:
            self.clients = [ControlPlaneClient(self.endpoints) for _ in range(clients)]
        else:
            self.clients = [ControlPlaneClient(self.endpoints)] * clients
        self.refs = [ref_of(case, i) for i in range(clients)]

    async def op(self, i: int) -> None:
        client, ref, owner = self.clients[i], self.refs[i], OWNER.format(path="grpc", client=i)
        lock = await client.acquire_lock(ref, owner, TTL_SECONDS)
        if not await client.release_lock(ref, owner, lock.token):
            raise RuntimeError(f"release of {ref} found no lock")

    async def close(self) -> None:
        for client in {id(c): c for c in self.clients}.values():
            await client.close()


class ServicePath(Path):
    label = SERVICE

    def __init__(self, etcd_endpoints: Sequence[str], *, per_task: bool) -> None:
        self.etcd_endpoints = list(etcd_endpoints)
        self.per_task = per_task
        self.services: list[locks.LockService] = []
        self.refs: list[str] = []

    async def open(self, clients: int, case: str) -> None:
        if self.per_task:
            self.services = [
                locks.LockService(etcd_mod.Etcd(self.etcd_endpoints)) for _ in range(clients)
            ]
        else:
            self.services = [locks.LockService(etcd_mod.Etcd(self.etcd_endpoints))] * clients
        self.refs = [ref_of(case, i) for i in range(clients)]

    async def op(self, i: int) -> None:
        service, ref = self.services[i], self.refs[i]
        owner = OWNER.format(path="service", client=i)
        lock, _ = await service.acquire(ref, owner, TTL_SECONDS)
        released, _ = await service.release(ref, owner, lock.token)
        if not released:
            raise RuntimeError(f"release of {ref} found no lock")

    async def close(self) -> None:
        for service in {id(s): s for s in self.services}.values():
            await service.close()
            await service.etcd.close()


class RawEtcdPath(Path):
    label = RAW

    def __init__(self, etcd_endpoints: Sequence[str], *, per_task: bool) -> None:
        self.etcd_endpoints = list(etcd_endpoints)
        self.per_task = per_task
        self.clients: list[etcd_mod.Etcd] = []
        self.keys: list[bytes] = []

    async def open(self, clients: int, case: str) -> None:
        if self.per_task:
            self.clients = [etcd_mod.Etcd(self.etcd_endpoints) for _ in range(clients)]
        else:
            self.clients = [etcd_mod.Etcd(self.etcd_endpoints)] * clients
        # The service's key space, so etcd does the same work for the same keys.
        self.keys = [keys.lock(ref_of(case, i)) for i in range(clients)]

    async def op(self, i: int) -> None:
        etcd, key = self.clients[i], self.keys[i]
        owner = OWNER.format(path="raw", client=i)
        lease, _ = await etcd.lease_grant(TTL_SECONDS)
        value = statemodel.dump(
            {"owner": owner, "ttl": TTL_SECONDS, "acquired_at_ms": int(time.time() * 1000)}
        )
        try:
            created = await etcd.txn(
                [etcd_mod.create_revision(key, "==", 0)], [etcd_mod.put(key, value, lease)]
            )
            if not created.succeeded:
                raise RuntimeError(f"{key!r} exists: a lock was left behind")
            deleted = await etcd.txn(
                [etcd_mod.create_revision(key, "==", created.revision)], [etcd_mod.delete(key)]
            )
            if not deleted.succeeded:
                raise RuntimeError(f"{key!r} changed while locked")
        finally:
            await etcd.lease_revoke(lease)

    async def close(self) -> None:
        for client in {id(c): c for c in self.clients}.values():
            await client.close()


# -- throughput ------------------------------------------------------------------------------


@dataclass(slots=True)
class Window:
    """What one timed run of a path collected."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


async def drive(
    op: Callable[[int], Awaitable[None]], clients: int, duration: float, warmup: float
) -> tuple[Summary, Window]:
    """``clients`` tasks run ``op`` back to back for ``warmup + duration`` seconds; ops
    that complete inside the last ``duration`` seconds are counted."""
    window = Window()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def worker(i: int) -> None:
        while (t0 := time.perf_counter()) < stop_at:
            try:
                await op(i)
            except Exception as exc:
                if t0 >= measure_from:
                    window.errors += 1
                    window.first_error = window.first_error or f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.01)  # an error loop must not spin
                continue
            t1 = time.perf_counter()
            if measure_from <= t1 <= stop_at:
                window.latencies.append(t1 - t0)

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return summarize(window.latencies, duration, window.errors), window


@dataclass(slots=True)
class Case:
    """One path at one concurrency, over all rounds."""

    path: str
    clients: int
    rounds: list[Summary] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds per group, added up over the measured windows' runs."""

    def summary(self) -> Summary:
        return combine(self.rounds, self.latencies)

    def cpu_ms_per_op(self) -> dict[str, float]:
        ops = sum(r.ops for r in self.rounds)
        return {k: v * 1000 / ops if ops else math.nan for k, v in self.cpu.items()}


async def throughput(
    make_paths: Callable[[], list[Path]],
    client_counts: Sequence[int],
    *,
    duration: float,
    warmup: float,
    rounds: int,
    cpu: CpuGroups | None,
    log: Log,
) -> list[Case]:
    cases: list[Case] = []
    for clients in client_counts:
        paths = make_paths()
        mine = [Case(p.label, clients) for p in paths]
        cases += mine
        for r in range(rounds):
            for path, case in zip(paths, mine, strict=True):
                await path.open(clients, f"{type(path).__name__}-{clients}-{r}")
                try:
                    before = cpu.read() if cpu else {}
                    t0 = time.perf_counter()
                    summary, window = await drive(path.op, clients, duration, warmup)
                    spent = time.perf_counter() - t0
                    after = cpu.read() if cpu else {}
                finally:
                    await path.close()
                # CPU over the whole run (warm-up included), scaled to the measured window.
                for k in after:
                    share = (after[k] - before[k]) * duration / spent
                    case.cpu[k] = case.cpu.get(k, 0.0) + share
                case.rounds.append(summary)
                case.latencies += window.latencies
                if window.first_error:
                    case.errors.append(window.first_error)
                log(
                    f"{clients:>3} clients, round {r + 1}, {path.label}: "
                    f"{summary.ops_per_s:,.0f} ops/s, p50 {summary.p50_ms:.1f} ms, "
                    f"p99 {summary.p99_ms:.1f} ms, {summary.errors} errors"
                )
    return cases
