"""Failover time: SIGKILL of the etcd leader's replica until a write succeeds again.

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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.controlplane_throughput import TTL_SECONDS, Log
from pilothouse.controlplane import errors
from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane.client import ControlPlaneClient


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
