"""The control plane's lock throughput and failover time, on one 3-replica cluster.

The cluster is :class:`pilothouse.testing.controlplane.ControlPlaneCluster`: three
``pilothouse controlplane serve`` processes on 127.0.0.1, each supervising its own etcd
member (heartbeat 100 ms, election timeout 1,000 ms unless ``--election-ms`` says
otherwise). Everything below runs in one process, one asyncio loop.

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
  entry replica, below, while it answers), whose ``LockService`` talks to its own etcd
  member.
* ``LockService in-process`` -- the service's own :class:`~pilothouse.controlplane.locks.
  LockService` in this process over ``Etcd(all etcd endpoints)``: exactly the etcd
  requests the service sends (lease grant, create txn; read txn, compare-and-delete txn,
  lease revoke in the background), without the gRPC hop and the replica process.
* ``raw etcd`` -- the least a client of etcd itself must send for the same lock, with
  ``Etcd(all etcd endpoints)``: ``lease_grant``, ``txn(create_revision == 0 -> put with
  the lease)``, then ``txn(create_revision == the one created -> delete)`` and
  ``lease_revoke``, each awaited. The target is measured against this one.

Every path enters the cluster through the same replica: a follower's (``--entry
follower``, the default; etcd forwards its writes to the leader) or the etcd leader's
(``--entry leader``). Its gRPC endpoint is listed first for the ``ControlPlaneClient``, which
stays on its first endpoint while it answers, and its etcd member first for ``Etcd``, whose
``pick_first`` policy connects to the first address that answers. The number of etcd
elections during the throughput runs is reported (0 expected). By default all tasks of a
path share one client (one gRPC channel per endpoint), as the tasks of one process would;
``--client-per-task`` gives every task its own.
Reported per case: ops/s, p50 and p99 latency of an op (acquire + release), errors, the
ratio to raw etcd at the same concurrency, and CPU time per op of this process, the
replica processes and the etcd members (from ``/proc``): on a 2-core machine the paths
compete for the same cores, so CPU per op is what throughput is made of. Target: gRPC
≥ 50% of raw etcd's ops/s at 16 clients.

**Failover.** ``--failovers`` times (default 10): wait until every replica answers
GetStatus and they agree on one etcd leader; find the replica whose member leads
(``etcd_leader()``); make one write so the client is connected; SIGKILL that replica's
process group (the replica and its etcd member); and time until a write through the gRPC
API succeeds again: ``acquire_lock`` on a fresh ref with a ``ControlPlaneClient`` of all
endpoints, ``timeout=0.5`` per attempt, ``retry_timeout=60`` and the client's default
backoff (0.05 s doubling to 1 s, full jitter; ``--failover-timeout``, ``--failover-backoff``
and ``--failover-max-backoff`` change them). An error that escapes the client's retries is
retried at once and counted. Two more clocks run in the same round, from the same SIGKILL,
to split the time: the *etcd election* (the surviving members' status polled every 10 ms
until one names a new leader) and *writable* (a tight probe per surviving replica:
``acquire_lock`` through that replica alone, 0.1 s per attempt, no backoff; the first to
succeed), so ``client write - writable`` is the client's retry policy and ``writable -
election`` the service's own delay. Then the killed replica is restarted and the next round
waits for health again. Reported: each round, the median and the max. Target: median of
the client's write ≤ 1.5 s.

``python -m bench controlplane [--duration S] [--clients 1,16,64] [--rounds N]
[--client-per-task] [--entry follower|leader] [--failovers N] [--election-ms MS
--heartbeat-ms MS] [--failover-timeout S --failover-backoff S --failover-max-backoff S]
[--skip-throughput] [--skip-failover] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pilothouse.controlplane import errors, keys, locks, replica, statemodel
from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane.client import ControlPlaneClient

TTL_SECONDS = 10
OWNER = "bench-{path}-{client}"
RATIO_TARGET = 0.5
RATIO_TARGET_CLIENTS = 16
FAILOVER_TARGET_S = 1.5
GRPC, SERVICE, RAW = "gRPC API", "LockService in-process", "raw etcd"
PATHS = (GRPC, SERVICE, RAW)

Log = Callable[[str], None]


# -- figures (pure) --------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between the closest
    ranks (numpy's default); NaN for no samples."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not in 0..100")
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """One measured run of a path at one concurrency."""

    ops: int
    seconds: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def summarize(latencies: Sequence[float], seconds: float, errors: int = 0) -> Summary:
    """Ops/s and p50/p99 in ms from op latencies (seconds) completed in ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"a measured window of {seconds} s")
    return Summary(
        ops=len(latencies),
        seconds=seconds,
        ops_per_s=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
    )


def ratio(a: float, b: float) -> float:
    """``a / b``; NaN when ``b`` is 0 or either is NaN."""
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan


def combine(rounds: Sequence[Summary], latencies: Sequence[float]) -> Summary:
    """Several rounds of one case: the median round's ops/s, percentiles of the pooled
    latencies, errors added up."""
    if not rounds:
        raise ValueError("no rounds")
    pooled = summarize(latencies, sum(r.seconds for r in rounds), sum(r.errors for r in rounds))
    return dataclasses.replace(pooled, ops_per_s=statistics.median(r.ops_per_s for r in rounds))


def failover_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median, max and min of failover times; NaN for none."""
    if not seconds:
        return {"median": math.nan, "max": math.nan, "min": math.nan}
    return {"median": statistics.median(seconds), "max": max(seconds), "min": min(seconds)}


def parse_proc_stat(text: str) -> tuple[int, int]:
    """``(ppid, utime + stime in clock ticks)`` from a ``/proc/<pid>/stat`` line. The
    command name (field 2) is in parentheses and may hold spaces or parentheses itself,
    so fields are counted after its last ``)``."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return int(rest[1]), int(rest[11]) + int(rest[12])


# -- CPU accounting --------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, int] | None:
    try:
        return parse_proc_stat(pathlib.Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def children(pids: Sequence[int]) -> list[int]:
    """The processes whose parent is one of ``pids`` (a scan of ``/proc``)."""
    wanted, out = set(pids), []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is not None and st[0] in wanted:
            out.append(int(entry.name))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    return sum(st[1] for pid in pids if (st := _stat(pid)) is not None) / _TICK


@dataclass(slots=True)
class CpuGroups:
    """CPU seconds used by this process, the replica processes and their etcd members."""

    replica_pids: list[int]
    etcd_pids: list[int]

    @classmethod
    def of(cls, replica_pids: Sequence[int]) -> CpuGroups:
        return cls(list(replica_pids), children(replica_pids))

    def read(self) -> dict[str, float]:
        return {
            "bench": cpu_seconds([os.getpid()]),
            "replicas": cpu_seconds(self.replica_pids),
            "etcd": cpu_seconds(self.etcd_pids),
        }


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


# -- failover --------------------------------------------------------------------------------


@dataclass(slots=True)
class Round:
    killed: str
    client_was_on_killed: bool
    election_s: float
    """SIGKILL to the first status of a surviving member naming a new leader."""
    writable_s: float
    """SIGKILL to the first acquire of the tight probes (one per surviving replica)."""
    write_s: float
    """SIGKILL to the measured client's first successful acquire: the failover time."""
    escaped_errors: int
    served_by: str
    """The replica whose answer was that first successful write."""
    restart_s: float
    healthy_s: float


async def replica_statuses(endpoints: Sequence[str], timeout: float = 1.0) -> list[Any]:
    """GetStatus of every replica (fresh channels: no reconnect backoff is inherited);
    ``None`` for a replica that does not answer."""

    async def one(endpoint: str) -> Any:
        async with ControlPlaneClient([endpoint], timeout=timeout) as client:
            try:
                return await client.status()
            except errors.ControlPlaneError:
                return None

    return list(await asyncio.gather(*(one(e) for e in endpoints)))


async def wait_healthy(endpoints: Sequence[str], timeout: float = 60.0) -> None:
    """Until every replica answers GetStatus, sees all members, and all name one leader."""
    deadline = time.monotonic() + timeout
    last: list[Any] = []
    while time.monotonic() < deadline:
        last = await replica_statuses(endpoints)
        leaders = {s.etcd_leader_id for s in last if s is not None}
        if (
            all(s is not None and len(s.members) == len(endpoints) for s in last)
            and len(leaders) == 1
            and leaders != {"0"}
        ):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the cluster was not healthy within {timeout}s: {last}")


async def watch_election(
    etcd_endpoints: Sequence[str], old_leader: int, started: float, interval: float = 0.01
) -> float:
    """Seconds from ``started`` until a member of ``etcd_endpoints`` reports a leader
    other than ``old_leader``."""
    clients = [etcd_mod.Etcd([e], timeout=0.2) for e in etcd_endpoints]
    try:
        while True:
            for client in clients:
                with contextlib.suppress(etcd_mod.EtcdError):
                    st = await client.status()
                    if st.leader not in (0, old_leader):
                        return time.monotonic() - started
            await asyncio.sleep(interval)
    finally:
        for client in clients:
            await client.close()


async def probe_writable(endpoint: str, ref: str, owner: str, started: float) -> float:
    """Seconds from ``started`` until an acquire through the replica at ``endpoint``
    succeeds, trying back to back (0.1 s per attempt, at most 10 ms between attempts)."""
    async with ControlPlaneClient(
        [endpoint], timeout=0.1, retry_timeout=120.0, backoff=0.005, max_backoff=0.01
    ) as client:
        while True:
            try:
                lock = await client.acquire_lock(ref, owner, TTL_SECONDS)
            except errors.ControlPlaneError:
                await asyncio.sleep(0.01)
                continue
            took = time.monotonic() - started
            with contextlib.suppress(errors.ControlPlaneError):
                await client.release_lock(ref, owner, lock.token)
            return took


async def first_of(tasks: Sequence[asyncio.Task[float]], timeout: float) -> float:
    """The smallest result of ``tasks`` that finish within ``timeout``; NaN if none."""
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    ok = [t.result() for t in done if t.exception() is None]
    return min(ok) if ok else math.nan


async def failover(cluster: Any, args: argparse.Namespace, log: Log) -> list[Round]:
    endpoints = list(cluster.endpoints)
    by_endpoint = {r.endpoint: name for name, r in cluster.replicas.items()}
    owner = f"bench-failover-{os.getpid()}"
    out: list[Round] = []
    client = ControlPlaneClient(
        endpoints,
        timeout=args.failover_timeout,
        retry_timeout=60.0,
        backoff=args.failover_backoff,
        max_backoff=args.failover_max_backoff,
    )
    async with client:
        for n in range(args.failovers):
            await wait_healthy(endpoints)
            name = await asyncio.to_thread(cluster.etcd_leader)
            victim = cluster.replicas[name]
            survivors = [r for k, r in cluster.replicas.items() if k != name]
            async with etcd_mod.Etcd([victim.etcd_endpoint], timeout=1.0) as etcd:
                old_leader = (await etcd.status()).leader
            # One write first: the client is connected and its endpoint is known.
            lock = await client.acquire_lock(f"refs/heads/failover/{n}/warm", owner, TTL_SECONDS)
            await client.release_lock(lock.ref, owner, lock.token)
            on_killed = by_endpoint.get(client.endpoint) == name

            started = time.monotonic()
            await asyncio.to_thread(cluster.kill, name)
            election = asyncio.create_task(
                watch_election([r.etcd_endpoint for r in survivors], old_leader, started)
            )
            probes = [
                asyncio.create_task(
                    probe_writable(
                        r.endpoint, f"refs/heads/failover/{n}/probe-{r.name}", owner, started
                    )
                )
                for r in survivors
            ]
            escaped = 0
            while True:
                try:
                    lock = await client.acquire_lock(f"refs/heads/failover/{n}", owner, TTL_SECONDS)
                    break
                except errors.ControlPlaneError as exc:
                    escaped += 1
                    log(f"failover {n + 1}: an error escaped the client's retries: {exc!r}")
            write_s = time.monotonic() - started
            served_by = by_endpoint.get(client.endpoint, client.endpoint)
            election_s = await first_of([election], 30)
            writable_s = await first_of(probes, 30)
            await client.release_lock(lock.ref, owner, lock.token)

            t0 = time.monotonic()
            await asyncio.to_thread(cluster.restart, name)
            restart_s = time.monotonic() - t0
            await wait_healthy(endpoints)
            healthy_s = time.monotonic() - t0
            out.append(
                Round(
                    name,
                    on_killed,
                    election_s,
                    writable_s,
                    write_s,
                    escaped,
                    served_by,
                    restart_s,
                    healthy_s,
                )
            )
            log(
                f"failover {n + 1}/{args.failovers}: killed {name} (client on it: {on_killed}): "
                f"etcd leader after {election_s:.3f} s, writable after {writable_s:.3f} s, "
                f"client write after {write_s:.3f} s; healthy {healthy_s:.1f} s after restart"
            )
    return out


# -- report ----------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.1f}"


def ratios(cases: Sequence[Case]) -> dict[tuple[str, int], float]:
    raw = {c.clients: c.summary().ops_per_s for c in cases if c.path == RAW}
    return {(c.path, c.clients): ratio(c.summary().ops_per_s, raw.get(c.clients, 0)) for c in cases}


def verdicts(cases: Sequence[Case], rounds: Sequence[Round]) -> dict[str, Any]:
    r = ratios(cases).get((GRPC, RATIO_TARGET_CLIENTS), math.nan)
    med = failover_summary([x.write_s for x in rounds])["median"]
    return {
        "grpc_vs_raw_at_16": {
            "value": r,
            "target": RATIO_TARGET,
            "met": None if math.isnan(r) else r >= RATIO_TARGET,
        },
        "failover_median_s": {
            "value": med,
            "target": FAILOVER_TARGET_S,
            "met": None if math.isnan(med) else med <= FAILOVER_TARGET_S,
        },
    }


FAILOVER_TIMES = ("election_s", "writable_s", "write_s")
FAILOVER_COLUMNS = (
    "round",
    "killed",
    "client was on it",
    "etcd leader s",
    "writable s (probe)",
    "client write s",
    "escaped errors",
    "healthy s after restart",
)


def report(
    cases: Sequence[Case],
    rounds: Sequence[Round],
    args: argparse.Namespace,
    meta: dict[str, Any] | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    if cases:
        table = Table(
            title=f"Lock acquire + release, {args.duration:g} s per case, {args.rounds} round(s)"
        )
        for col in ("clients", "path", "ops/s", "p50 ms", "p99 ms", "÷ raw", "errors"):
            table.add_column(col, justify="left" if col == "path" else "right")
        for col in ("CPU ms/op: bench", "replicas", "etcd"):
            table.add_column(col, justify="right")
        rat = ratios(cases)
        for c in cases:
            s, cpu = c.summary(), c.cpu_ms_per_op()
            table.add_row(
                str(c.clients),
                c.path,
                f"{s.ops_per_s:,.0f}",
                _ms(s.p50_ms),
                _ms(s.p99_ms),
                f"{rat[(c.path, c.clients)]:.0%}",
                str(s.errors),
                *(_ms(cpu.get(k, math.nan)) for k in ("bench", "replicas", "etcd")),
                end_section=c.path == PATHS[-1],
            )
        console.print(table)
        for c in cases:
            for e in c.errors:
                console.print(f"[red]{c.path}, {c.clients} clients:[/] {e}")
        if meta:
            console.print(
                f"etcd leader at the start: {meta.get('etcd_leader')}; every path enters through "
                f"{meta.get('entry_replica')} (its gRPC API, its etcd member); etcd elections "
                "during the "
                f"throughput runs: {meta.get('elections_during_throughput')}"
            )
    if rounds:
        table = Table(
            title="Failover: SIGKILL of the etcd leader's replica until an acquire succeeds"
            f" (client timeout {args.failover_timeout:g} s, backoff {args.failover_backoff:g}"
            f"-{args.failover_max_backoff:g} s, etcd election {args.election_ms} ms)"
        )
        for col in FAILOVER_COLUMNS:
            table.add_column(col, justify="right")
        for i, r in enumerate(rounds, 1):
            table.add_row(
                str(i),
                r.killed,
                "yes" if r.client_was_on_killed else "no",
                f"{r.election_s:.3f}",
                f"{r.writable_s:.3f}",
                f"{r.write_s:.3f}",
                str(r.escaped_errors),
                f"{r.healthy_s:.1f}",
            )
        table.add_section()
        sums = [failover_summary([getattr(r, k) for r in rounds]) for k in FAILOVER_TIMES]
        for stat in ("median", "max"):
            table.add_row(stat, "", "", *(f"{x[stat]:.3f}" for x in sums), "", "")
        console.print(table)
    for name, v in verdicts(cases, rounds).items():
        if math.isnan(v["value"]):
            continue
        mark = "[green]met[/]" if v["met"] else "[red]NOT met[/]"
        console.print(f"{name}: {v['value']:.3g} (target {v['target']}): {mark}")


def to_json(
    cases: Sequence[Case],
    rounds: Sequence[Round],
    args: argparse.Namespace,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    rat = ratios(cases)
    return {
        **(meta or {}),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "client_per_task": args.client_per_task,
        "entry": args.entry,
        "election_ms": args.election_ms,
        "heartbeat_ms": args.heartbeat_ms,
        "throughput": [
            {
                "path": c.path,
                "clients": c.clients,
                **dataclasses.asdict(c.summary()),
                "vs_raw": rat[(c.path, c.clients)],
                "rounds_ops_per_s": [r.ops_per_s for r in c.rounds],
                "cpu_ms_per_op": c.cpu_ms_per_op(),
                "errors_seen": c.errors,
            }
            for c in cases
        ],
        "failover": {
            "rounds": [dataclasses.asdict(r) for r in rounds],
            **{k: failover_summary([getattr(r, k) for r in rounds]) for k in FAILOVER_TIMES},
            "client": {
                "timeout_s": args.failover_timeout,
                "backoff_s": args.failover_backoff,
                "max_backoff_s": args.failover_max_backoff,
            },
        },
        "targets": verdicts(cases, rounds),
    }


def _nan_to_none(doc: Any) -> Any:
    if isinstance(doc, float) and math.isnan(doc):
        return None
    if isinstance(doc, dict):
        return {k: _nan_to_none(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_nan_to_none(v) for v in doc]
    return doc


# -- main ------------------------------------------------------------------------------------


def entry_order(names: Sequence[str], leader: str, entry: str) -> list[str]:
    """Replica names with the one every path enters through first: the etcd leader's
    replica (``entry="leader"``) or the first other one (``"follower"``)."""
    if entry not in ("leader", "follower"):
        raise ValueError(f"entry must be 'leader' or 'follower', not {entry!r}")
    first = leader if entry == "leader" else next(n for n in names if n != leader)
    return [first, *(n for n in names if n != first)]


async def raft_term(etcd_endpoints: Sequence[str]) -> int:
    """The highest Raft term the members report (0 if none answers): each election
    raises it, so a difference is the number of elections (at least one per change)."""
    terms = [0]
    for endpoint in etcd_endpoints:
        with contextlib.suppress(etcd_mod.EtcdError):
            async with etcd_mod.Etcd([endpoint], timeout=1.0) as etcd:
                terms.append((await etcd.status()).raft_term)
    return max(terms)


async def run(
    cluster: Any, args: argparse.Namespace, log: Log
) -> tuple[list[Case], list[Round], dict[str, Any]]:
    cases: list[Case] = []
    rounds: list[Round] = []
    meta: dict[str, Any] = {}
    if not args.skip_throughput:
        await wait_healthy(list(cluster.endpoints))
        leader = await asyncio.to_thread(cluster.etcd_leader)
        order = entry_order(list(cluster.replicas), leader, args.entry)
        endpoints = [cluster.replicas[n].endpoint for n in order]
        etcd_endpoints = [cluster.replicas[n].etcd_endpoint for n in order]
        meta.update(etcd_leader=leader, entry_replica=order[0])
        per_task = args.client_per_task

        def make_paths() -> list[Path]:
            return [
                GrpcPath(endpoints, per_task=per_task),
                ServicePath(etcd_endpoints, per_task=per_task),
                RawEtcdPath(etcd_endpoints, per_task=per_task),
            ]

        cpu = CpuGroups.of([r.pid for r in cluster.replicas.values()])
        log(f"CPU accounting: replicas {cpu.replica_pids}, etcd members {cpu.etcd_pids}")
        log(f"etcd leader {leader}; every path enters through {order[0]}")
        term = await raft_term(etcd_endpoints)
        cases = await throughput(
            make_paths,
            args.clients,
            duration=args.duration,
            warmup=args.warmup,
            rounds=args.rounds,
            cpu=cpu,
            log=log,
        )
        meta["elections_during_throughput"] = await raft_term(etcd_endpoints) - term
    if args.failovers:
        rounds = await failover(cluster, args, log)
    return cases, rounds, meta


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench controlplane")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per case")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds per case")
    parser.add_argument("--clients", default="1,16,64", help="concurrencies, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every case")
    parser.add_argument("--client-per-task", action="store_true", help="a client per task")
    parser.add_argument(
        "--entry",
        choices=("follower", "leader"),
        default="follower",
        help="enter through a follower's replica (etcd forwards to the leader) or the leader's",
    )
    parser.add_argument("--failovers", type=int, default=10, help="failover rounds (0: none)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-failover", action="store_true", help="same as --failovers 0")
    parser.add_argument(
        "--election-ms",
        type=int,
        default=replica.DEFAULT_ELECTION_MS,
        help="etcd election timeout (the replica's default)",
    )
    parser.add_argument(
        "--heartbeat-ms",
        type=int,
        default=replica.DEFAULT_HEARTBEAT_MS,
        help="etcd heartbeat (the replica's default)",
    )
    parser.add_argument(
        "--failover-timeout", type=float, default=5.0, help="client timeout per attempt (default)"
    )
    parser.add_argument(
        "--failover-backoff", type=float, default=0.05, help="client backoff (its default)"
    )
    parser.add_argument(
        "--failover-max-backoff", type=float, default=0.25, help="client max backoff (its default)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in str(args.clients).split(",") if c]
    if args.skip_failover:
        args.failovers = 0
    from pilothouse.testing.controlplane import ControlPlaneCluster

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="pilothouse-bench-cp-") as tmp:
        cluster = ControlPlaneCluster(
            pathlib.Path(tmp), 3, election_ms=args.election_ms, heartbeat_ms=args.heartbeat_ms
        )
        with cluster:
            cluster.start()
            log(f"cluster up: replicas {cluster.endpoints}, etcd {cluster.etcd_endpoints}")
            cases, rounds, meta = asyncio.run(run(cluster, args, log))
    if args.json:
        doc = _nan_to_none(to_json(cases, rounds, args, meta))
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        report(cases, rounds, args, meta)
