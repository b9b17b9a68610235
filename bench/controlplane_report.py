"""The control-plane bench's report: a table per part, the targets' verdicts, and the same
figures as JSON.

Reported per throughput case: ops/s, p50 and p99 latency of an op (acquire + release),
errors, the ratio to raw etcd at the same concurrency, and CPU time per op of this process,
the replica processes and the etcd members. Target: gRPC ≥ 50% of raw etcd's ops/s at 16
clients. Reported for failover: each round, the median and the max. Target: median of the
client's write ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from bench.controlplane_failover import Round
from bench.controlplane_figures import failover_summary, ratio
from bench.controlplane_throughput import GRPC, PATHS, RAW, Case

RATIO_TARGET = 0.5
RATIO_TARGET_CLIENTS = 16
FAILOVER_TARGET_S = 1.5


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
