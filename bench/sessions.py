"""Workspace sessions (issue 7): the sessions operator and API under load.

``python -m bench sessions [--sessions 1000] [--rate 500] [--duration 20] [--interval 10]
[--short-interval 0.05] [--webhook-creates 200] [--rounds 3] [--managers stock[,MODULE:ATTR]]
[--arms default,short,healthz] [--json FILE]``

Each round starts a fresh set of processes, so the two cores are shared the way a small
deployment shares them and no side gets the other's event loop:

* the API server with the simulated cluster (``pilothouse cluster up --memory``, 0 s pod
  start delay, enough nodes of 110 pods for every session of the round);
* the sessions operator's manager (``pilothouse run --controllers sessions
  --register-webhooks``): the Session and NodeOperation controllers and the Session
  admission webhooks (quota: validating, defaults: mutating), **on** for every create;
* this process, the load generator for creates (16 concurrent clients) and the watcher
  that sees sessions become Running;
* for heartbeats, the sessions API (:mod:`bench.sessions_apiproc`, uvicorn on 127.0.0.1)
  and the open-loop heartbeat generator (:mod:`bench.sessions_load`), each in its own
  process.

Measured, in this order on the same cluster:

1. **To Running.** ``--sessions`` Sessions created from one SessionTemplate (10 users, a
   SessionQuota in the namespace, no home volume) by 16 concurrent clients; wall time from
   the first create until a watch has seen every one with ``status.phase: Running``. The
   manager's requests come from its ``rest_client_requests_total`` (watches included),
   counted from just before the first create to the moment the last session is Running.
2. **Heartbeats.** ``--rate`` heartbeats/s spread over those sessions for ``--duration``
   seconds, open loop (latency from each request's scheduled time), each arm against a
   fresh API process: ``default`` (``--interval``, the CLI's 10 s), ``short``
   (``--short-interval``, 0.05 s, the smallest the CLI allows: every heartbeat is written)
   and ``healthz`` (``GET /healthz`` at the same rate: the control, what uvicorn, FastAPI
   and the machine cost); the order rotates
   by round. Writes are the API's Session status PATCHes during the window (counted by its
   client); the Session MODIFIED events this process's watch saw, and the manager's
   requests in the window, show what those writes cost everyone else. CPU of every
   process is read from ``/proc`` for each phase.
3. **Admission.** ``--webhook-creates`` Session creates, one at a time, as dry runs (both
   webhooks called, nothing stored, so nothing reconciled: the admission path alone) and
   then stored (the manager reconciling each on the loop that serves the webhooks), with
   the webhook configurations registered and with them deleted (the same manager keeps
   running), the order alternating by round, each arm after the previous arm's sessions
   are Running. The namespace then holds over ``--sessions`` sessions, which is what the
   quota check walks. The handlers' own time is the manager's
   ``controller_runtime_webhook_latency_seconds`` (mean from sum/count; p99 only to the
   histogram's bucket bound).

``--managers stock,MODULE:ATTR`` runs every round once per manager, alternating: the
operator as shipped against a variant (an ``Operator`` that ``pilothouse run --controllers``
loads), side by side on the same machine. That is how the pod-lookup index was measured
before it shipped (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import pathlib
import sys
import tempfile
from typing import Any

from bench import sessions_phases as phases
from bench import sessions_procs as procs
from bench import sessions_report
from pilothouse.client import client as client_mod
from pilothouse.testing import process

#: ``--managers`` names: "stock" is the installed operator; anything else is a
#: ``module:attribute`` spec for ``pilothouse run --controllers``.
MANAGERS = {"stock": "sessions"}
#: Heartbeat arms: default interval, short interval, and the GET /healthz control.
ARMS = ("default", "short", "healthz")


async def one_round(
    args: argparse.Namespace, tmp: pathlib.Path, n: int, manager: str
) -> dict[str, Any]:
    total = args.sessions + 2 * args.webhook_creates + 20
    nodes = str(total // 100 + 1)
    srv = process.ClusterProcess(tmp / "cluster", "--memory", "--nodes", nodes)
    srv.start()
    try:
        return await _measure(args, tmp, n, manager, srv, int(nodes))
    finally:
        srv.stop()


async def _measure(
    args: argparse.Namespace,
    tmp: pathlib.Path,
    n: int,
    manager: str,
    srv: process.ClusterProcess,
    nodes: int,
) -> dict[str, Any]:
    mgr = procs.Manager(srv.kubeconfig, tmp / "manager.log", MANAGERS.get(manager, manager))
    bench_counts: collections.Counter[str] = collections.Counter()

    def count(method: str, code: str, seconds: float) -> None:
        bench_counts[method] += 1

    kube = await client_mod.connect(str(srv.kubeconfig), on_request=count)
    tracker = phases.Tracker(kube)
    try:
        mgr.start()
        await mgr.wait_ready(kube)
        assert srv.proc is not None and mgr.proc is not None
        pids = {"server": srv.proc.pid, "manager": mgr.proc.pid, "bench": os.getpid()}
        await phases.fixtures(kube)
        await tracker.start()
        out: dict[str, Any] = {"nodes": nodes}
        out["running"] = await phases.to_running(
            kube, bench_counts, mgr, tracker, args.sessions, procs.CpuMeter(pids)
        )
        print(f"round {n}: to Running {out['running']}", file=sys.stderr, flush=True)
        out["heartbeats"] = {}
        arms = [a for a in ARMS if a in args.arms.split(",")]
        for tag in arms[n % len(arms) :] + arms[: n % len(arms)]:  # rotated by round
            interval = args.short_interval if tag == "short" else args.interval
            res = await phases.heartbeats(
                args, tmp, srv.kubeconfig, mgr, tracker, interval, f"{tag}{n}", pids, tag
            )
            out["heartbeats"][tag] = res
            print(f"round {n}: heartbeats {tag} {res}", file=sys.stderr, flush=True)
        # Unmeasured warm-up of the create path (and of the webhook server's connections).
        await phases.admission(kube, mgr, tracker, True, 0, 20, pids)
        out["admission"] = {}
        order = [True, False] if n % 2 == 0 else [False, True]
        for k, on in enumerate(order):
            res = await phases.admission(
                kube, mgr, tracker, on, 20 + k * args.webhook_creates, args.webhook_creates, pids
            )
            out["admission"]["on" if on else "off"] = res
            print(f"round {n}: admission {res}", file=sys.stderr, flush=True)
        return out
    finally:
        await tracker.stop()
        await kube.close()
        mgr.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    managers = args.managers.split(",")
    variants: dict[str, list[dict[str, Any]]] = {m: [] for m in managers}
    for n in range(args.rounds):
        for manager in managers if n % 2 == 0 else managers[::-1]:
            with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
                print(f"round {n}: manager {manager}", file=sys.stderr, flush=True)
                variants[manager].append(await one_round(args, pathlib.Path(tmp), n, manager))
            if args.json:  # after every round, so a failure later loses nothing
                args.json.write_text(
                    json.dumps({"args": vars(args), "variants": variants}, default=str)
                )
    return {"args": vars(args), "variants": variants}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sessions")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--short-interval", type=float, default=0.05)
    parser.add_argument("--webhook-creates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--managers",
        default="stock",
        help="comma-separated: stock (the installed operator) or module:attribute specs; "
        "each round runs each",
    )
    parser.add_argument(
        "--arms", default=",".join(ARMS), help=f"heartbeat arms, from {', '.join(ARMS)}"
    )
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(sessions_report.report(result))
