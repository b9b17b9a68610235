"""The three measurements of ``python -m bench sessions`` (see :mod:`bench.sessions` for
what each measures and why it is set up that way): :func:`to_running`, :func:`heartbeats`,
:func:`admission`, and the :class:`Tracker` watch they share."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import pathlib
import sys
import time
from typing import Any

from bench import sessions_procs as procs
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import quota as quota_mod
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions import template as template_mod

NS = "default"
USERS = 10
SESSION = session_mod.Session.kind_info()
CONCURRENCY = 16


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Tracker:
    """A watch of the namespace's Sessions: each one's phase, and MODIFIED events seen."""

    def __init__(self, kube: client_mod.Client) -> None:
        self.kube = kube
        self.phases: dict[str, str | None] = {}
        self.modified = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listing = await self.kube.list(SESSION, NS)
        for item in listing.items:
            self.phases[item["metadata"]["name"]] = (item.get("status") or {}).get("phase")
        self._task = asyncio.create_task(self._run(listing.resource_version))

    async def _run(self, rv: str) -> None:
        while True:
            async for ev in self.kube.watch(SESSION, NS, resource_version=rv):
                rv = ev.resource_version or rv
                if ev.type == "BOOKMARK":
                    continue
                if ev.type == "MODIFIED":
                    self.modified += 1
                name = ev.object["metadata"]["name"]
                if ev.type == "DELETED":
                    self.phases.pop(name, None)
                else:
                    self.phases[name] = (ev.object.get("status") or {}).get("phase")
                self._changed.set()

    async def running(self, names: list[str], timeout: float = 1800) -> None:
        async with asyncio.timeout(timeout):
            while not all(self.phases.get(n) == "Running" for n in names):
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _session(name: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": SESSION.api_version,
        "kind": SESSION.kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {"user": f"u{i % USERS}", "template": "bench"},
    }


async def fixtures(kube: client_mod.Client) -> None:
    tmpl = template_mod.SessionTemplate.kind_info()
    quota = quota_mod.SessionQuota.kind_info()
    resources = {"requests": {"cpu": "10m", "memory": "32Mi"}}
    await kube.create(
        {
            "apiVersion": tmpl.api_version,
            "kind": tmpl.kind,
            "metadata": {"name": "bench", "namespace": NS},
            "spec": {"image": "workspace:latest", "resources": resources},
        }
    )
    limits = {"sessions": 100_000, "cpu": "10000", "memory": "10000Gi"}
    await kube.create(
        {
            "apiVersion": quota.api_version,
            "kind": quota.kind,
            "metadata": {"name": "bench", "namespace": NS},
            "spec": {"perUser": limits, "perNamespace": limits},
        }
    )


async def to_running(
    kube: client_mod.Client,
    bench_counts: collections.Counter[str],
    mgr: procs.Manager,
    tracker: Tracker,
    n: int,
    cpu: procs.CpuMeter,
) -> dict[str, Any]:
    names = [f"s{i}" for i in range(n)]
    before_mgr = procs.requests_by_method(await mgr.metrics())
    before_bench = collections.Counter(bench_counts)
    latencies: list[float] = []
    todo = iter(enumerate(names))

    async def creator() -> None:
        for i, name in todo:
            begun = time.perf_counter()
            await kube.create(_session(name, i))
            latencies.append(time.perf_counter() - begun)

    cpu.start()
    t0 = time.perf_counter()
    await asyncio.gather(*(creator() for _ in range(CONCURRENCY)))
    created = time.perf_counter() - t0
    await tracker.running(names)
    wall = time.perf_counter() - t0
    cores = cpu.stop()
    mgr_counts = procs.requests_by_method(await mgr.metrics()) - before_mgr
    bench = collections.Counter(bench_counts) - before_bench
    return {
        "sessions": n,
        "wall_s": wall,
        "creates_done_s": created,
        "create_p50_ms": _pct(latencies, 0.5) * 1e3,
        "create_p99_ms": _pct(latencies, 0.99) * 1e3,
        "manager_requests": dict(mgr_counts),
        "manager_requests_per_session": sum(mgr_counts.values()) / n,
        "manager_writes_per_session": procs.writes(mgr_counts) / n,
        "bench_requests": sum(bench.values()),
        "server_requests": sum(mgr_counts.values()) + sum(bench.values()),
        "cpu_cores": cores,
        "cpu_seconds": {k: v * wall for k, v in cores.items()},
    }


async def heartbeats(
    args: argparse.Namespace,
    tmp: pathlib.Path,
    kubeconfig: pathlib.Path,
    mgr: procs.Manager,
    tracker: Tracker,
    interval: float,
    db: str,
    pids: dict[str, int],
    arm: str,
) -> dict[str, Any]:
    api_proc = procs.SessionsAPI(kubeconfig, interval, tmp / f"api-{db}.db", USERS)
    async with api_proc as api:
        assert api.proc is not None
        cpu = procs.CpuMeter({**pids, "api": api.proc.pid})
        gen = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sessions_load",
            api.url,
            str(args.rate),
            str(args.duration),
            str(args.sessions),
            str(USERS),
            *(["healthz"] if arm == "healthz" else []),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert gen.stdout is not None and gen.stderr is not None
        line = await gen.stderr.readline()
        if b"measuring" not in line:
            raise RuntimeError(f"load generator: {line!r} {await gen.stderr.read()!r}")
        cpu.start()
        c0, m0, e0 = (
            await api.counts(),
            procs.requests_by_method(await mgr.metrics()),
            tracker.modified,
        )
        out, err = await gen.communicate()
        cores = cpu.stop()
        c1, m1, e1 = (
            await api.counts(),
            procs.requests_by_method(await mgr.metrics()),
            tracker.modified,
        )
        if gen.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode()}")
    result: dict[str, Any] = json.loads(out)
    patches = c1["requests"].get("PATCH", 0) - c0["requests"].get("PATCH", 0)
    mgr_delta = m1 - m0
    result.update(
        interval_s=interval,
        api_status_patches=patches,
        expected_writes=args.sessions * args.duration / max(interval, args.sessions / args.rate),
        session_modified_events=e1 - e0,
        manager_requests_in_window=sum(mgr_delta.values()),
        cpu_cores={**cores, "loadgen": result.pop("cpu_cores")},
    )
    return result


async def admission(
    kube: client_mod.Client,
    mgr: procs.Manager,
    tracker: Tracker,
    webhooks: bool,
    start: int,
    count: int,
    pids: dict[str, int],
) -> dict[str, Any]:
    """``count`` dry-run creates, then ``count`` real creates, one at a time, with or
    without the webhook configurations. A dry run is admitted (webhooks called: theirs
    are ``sideEffects: None``) but not stored, so nothing is reconciled: the admission
    path alone, with the manager idle. A real create also sets the manager reconciling it
    (Deployment, Service, pod, status), on the same event loop that answers the webhooks."""
    saved = [] if webhooks else await procs.remove_webhooks(kube)
    out: dict[str, Any] = {"webhooks": webhooks, "creates": count}
    try:
        for dry in (True, False):
            before = procs.webhook_latency(await mgr.metrics())
            names, latencies = [], []
            cpu = procs.CpuMeter(pids)
            cpu.start()
            for i in range(start, start + count):
                name = f"w{i}"
                begun = time.perf_counter()
                await kube.create(_session(name, i), dry_run=dry)
                latencies.append(time.perf_counter() - begun)
                names.append(name)
            cores = cpu.stop()
            after = procs.webhook_latency(await mgr.metrics())
            if not dry:
                await tracker.running(names)  # let the controller settle before what follows
            out["dry" if dry else "real"] = {
                "p50_ms": _pct(latencies, 0.5) * 1e3,
                "p99_ms": _pct(latencies, 0.99) * 1e3,
                "max_ms": max(latencies) * 1e3,
                "handler": _handler(before, after),
                "cpu_cores": cores,
            }
    finally:
        await procs.restore_webhooks(kube, saved)
    return out


def _handler(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Per webhook: calls, mean handler time, and the histogram bucket holding the p99."""
    handler = {}
    for path, vals in after.items():
        prev = before.get(path, {})
        n = vals.get("count", 0) - prev.get("count", 0)
        buckets = sorted(
            (float(k[3:]), v - prev.get(k, 0)) for k, v in vals.items() if k.startswith("le=")
        )
        p99_bound = next((le for le, c in buckets if n and c >= 0.99 * n), float("inf"))
        handler[path.strip("/").split("-", 1)[0]] = {  # "mutate", "validate"
            "calls": n,
            "mean_ms": (vals.get("sum", 0) - prev.get("sum", 0)) / n * 1e3 if n else 0.0,
            "p99_le_ms": p99_bound * 1e3,
        }
    return handler
