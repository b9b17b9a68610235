"""The control plane's lock throughput and failover time, on one 3-replica cluster.

The cluster is :class:`pilothouse.testing.controlplane.ControlPlaneCluster`: three
``pilothouse controlplane serve`` processes on 127.0.0.1, each supervising its own etcd
member (heartbeat 100 ms, election timeout 1,000 ms unless ``--election-ms`` says
otherwise). Everything below runs in one process, one asyncio loop.

* **Lock throughput** (:mod:`bench.controlplane_throughput`): a contention-free acquire +
  release of a lock through the gRPC API, the ``LockService`` in-process and raw etcd, at
  each ``--clients`` concurrency. Target: gRPC ≥ 50% of raw etcd's ops/s at 16 clients.
* **Failover** (:mod:`bench.controlplane_failover`): ``--failovers`` times, SIGKILL of the
  etcd leader's replica until a write through the gRPC API succeeds again. Target: median
  of the client's write ≤ 1.5 s.
* The figures (:mod:`bench.controlplane_figures`), CPU per op from ``/proc``
  (:mod:`bench.controlplane_cpu`) and the report and JSON
  (:mod:`bench.controlplane_report`).

Every path enters the cluster through the same replica: a follower's (``--entry
follower``, the default; etcd forwards its writes to the leader) or the etcd leader's
(``--entry leader``). Its gRPC endpoint is listed first for the ``ControlPlaneClient``, which
stays on its first endpoint while it answers, and its etcd member first for ``Etcd``, whose
``pick_first`` policy connects to the first address that answers. The number of etcd
elections during the throughput runs is reported (0 expected).

``python -m bench controlplane [--duration S] [--clients 1,16,64] [--rounds N]
[--client-per-task] [--entry follower|leader] [--failovers N] [--election-ms MS
--heartbeat-ms MS] [--failover-timeout S --failover-backoff S --failover-max-backoff S]
[--skip-throughput] [--skip-failover] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pathlib
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bench.controlplane_cpu import CpuGroups, _stat, parse_proc_stat
from bench.controlplane_failover import Round, failover, wait_healthy
from bench.controlplane_figures import (
    Summary,
    combine,
    failover_summary,
    percentile,
    ratio,
    summarize,
)
from bench.controlplane_report import _nan_to_none, ratios, report, to_json, verdicts
from bench.controlplane_throughput import (
    GRPC,
    PATHS,
    RAW,
    SERVICE,
    Case,
    GrpcPath,
    Log,
    Path,
    RawEtcdPath,
    ServicePath,
    throughput,
)
from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane import replica

__all__ = [  # the pieces, re-exported: ``bench.controlplane`` is the bench's face
    "GRPC",
    "PATHS",
    "RAW",
    "SERVICE",
    "Case",
    "Round",
    "Summary",
    "_nan_to_none",
    "_stat",
    "combine",
    "entry_order",
    "failover_summary",
    "main",
    "parse_proc_stat",
    "percentile",
    "ratio",
    "ratios",
    "report",
    "run",
    "summarize",
    "to_json",
    "verdicts",
]


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
