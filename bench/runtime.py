"""The operator runtime's figures: a Pilothouse operator against an equivalent kopf operator.

Each operator runs in its own process, started with its own CLI (``pilothouse run`` and
``kopf run --standalone``), against the same embedded API server (in-memory, no simulated
cluster), which runs in this process. The operators take turns, never overlapping: each
turn has a fresh namespace, deleted (with everything in it) before the next turn, so each
starts against the same server state. ``--rounds`` turns each (default 3), the order
alternating between rounds; figures are the median and the range.

On the 2-core machines the operator has one core and the server the other. This process's
own work during a turn shares the server's core: creating the N Stacks over HTTPS (the
client side of 1,000 creates is ~0.3 s of CPU), reading the operator's stamps, and
following the store's commits (in-process: no polling over HTTP).

For each turn:

* **converge** -- create N Stacks (16 concurrent clients) and time from the first create
  to the moment the last Stack is converged: ``status.children == 3`` for its current
  generation *and* its ConfigMap, Service and Deployment exist, owned by it, labelled with
  its ``spec.version``. Convergence is followed through the store's commit listener, so
  the time is when the last write committed.
* **requests** -- counted in the server by a middleware placed ahead of the server's own
  (this benchmark wraps ``apiserver.app.build_app``; nothing under ``src/`` changes), per
  User-Agent, from the first create until the operator has been silent for a second after
  convergence. Everything but this benchmark's own User-Agent is the operator's.
* **CPU** -- the operator process's (``/proc/<pid>/stat``) and this process's (the server)
  from the first create to convergence.
* **RSS** -- ``VmRSS`` once the operator is ready (nothing cached yet), and ``VmHWM``
  (peak) before it is stopped, from ``/proc/<pid>/status``.
* **idle change-to-reconcile latency** (first round only) -- after convergence, patch
  ``spec.version`` of one Stack at a time, each only once the operator is idle (no
  reconcile running, the previous Stack converged, no request from the operator and no
  reconcile for 50 ms). Latency: the operator's reconcile-start stamp (``time.time()``,
  written to its stdout) minus ``time.time()`` just before this process sent the PATCH,
  so it includes the write and the watch delivery.

Then the memory figure: a Pilothouse manager (``pilothouse run``) whose controller watches
10,000 ConfigMaps of ~1 KB and reconciles each once (reading it from the cache), against
the same manager on an empty namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import pathlib
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench import runtime_common as common
from pilothouse.api import kinds
from pilothouse.apiserver import app as app_mod
from pilothouse.apiserver import requestinfo
from pilothouse.apiserver import server as server_mod
from pilothouse.apiserver.store import records
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.testing import fixtures

REPO = pathlib.Path(__file__).resolve().parent.parent
DRIVER_AGENT = "bench-runtime-driver"
STACK_GR = f"{common.PLURAL}.{common.GROUP}"
STACK_KIND = kinds.Kind(common.GROUP, common.VERSION, common.KIND, common.PLURAL, True)
CHILD_GRS = {"configmaps": 0, "services": 1, "deployments.apps": 2}
QUIET = 0.05  # seconds without an operator request or reconcile that count as idle
CONCURRENT_CREATES = 16


# -- server-side request counting ----------------------------------------------------------


class RequestCounter:
    """Requests per (User-Agent, verb + resource), counted before authentication."""

    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.watches: set[tuple[str, str, str]] = set()  # (agent, resource, namespace)
        self.last_at: dict[str, float] = {}

    def middleware(self) -> Any:
        @web.middleware
        async def count(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            agent = request.headers.get("User-Agent", "")
            watch = request.query.get("watch") in ("1", "true")
            info = requestinfo.parse(request.path, request.method, watch_param=watch)
            if info is None:
                what = "discovery"
            else:
                what = f"{info.verb} {info.resource}"
                if info.subresource:
                    what += "/" + info.subresource
                if info.verb == "watch":
                    self.watches.add((agent, info.resource, info.namespace))
            self.counts[(agent, what)] += 1
            self.last_at[agent] = time.perf_counter()
            return await handler(request)

        return count

    def snapshot(self) -> collections.Counter[tuple[str, str]]:
        return collections.Counter(self.counts)

    def operator_last(self) -> float:
        return max((t for a, t in self.last_at.items() if a != DRIVER_AGENT), default=0.0)

    def operator_watches(self, namespace: str) -> set[str]:
        return {r for a, r, ns in self.watches if a != DRIVER_AGENT and ns == namespace}


@contextlib.contextmanager
def counting(counter: RequestCounter) -> Iterator[None]:
    """Servers started inside put ``counter``'s middleware first."""
    original = app_mod.build_app

    def build(st: Any) -> web.Application:
        application = original(st)
        application.middlewares.insert(0, counter.middleware())
        return application

    app_mod.build_app = build
    try:
        yield
    finally:
        app_mod.build_app = original


def _operator_requests(
    before: collections.Counter[tuple[str, str]], after: collections.Counter[tuple[str, str]]
) -> collections.Counter[tuple[str, str]]:
    diff = after - before
    return collections.Counter({k: v for k, v in diff.items() if k[0] != DRIVER_AGENT})


# -- convergence, followed through the store's commits --------------------------------------


@dataclass
class _StackState:
    uid: str = ""
    version: str = ""
    status_ok: bool = False
    children: list[tuple[tuple[str, ...], str] | None] = field(
        default_factory=lambda: [None, None, None]
    )

    def converged(self) -> bool:
        if not (self.uid and self.status_ok):
            return False
        return all(
            c is not None and self.uid in c[0] and c[1] == self.version for c in self.children
        )


class Tracker:
    """A store listener that knows which Stacks of one namespace are converged."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.stacks: dict[str, _StackState] = collections.defaultdict(_StackState)
        self.converged: set[str] = set()
        self.target = 0
        self.done_at = 0.0
        self.done = asyncio.Event()
        self._waiters: dict[str, asyncio.Future[None]] = {}

    def __call__(self, events: list[records.Event]) -> None:
        touched = set()
        for ev in events:
            rec = ev.record
            if rec.namespace != self.namespace:
                continue
            if rec.group_resource == STACK_GR:
                st = self.stacks[rec.name]
                if ev.type == records.DELETED:
                    st.uid = ""
                else:
                    obj = rec.obj()
                    status = obj.get("status") or {}
                    st.uid = rec.uid
                    st.version = str((obj.get("spec") or {}).get("version", ""))
                    st.status_ok = status.get("children") == 3 and status.get(
                        "observedGeneration"
                    ) == obj["metadata"].get("generation")
                touched.add(rec.name)
            else:
                index = CHILD_GRS.get(rec.group_resource)
                suffix = common.SUFFIXES[index] if index is not None else ""
                if not suffix or not rec.name.endswith(suffix):
                    continue
                owner = rec.name[: -len(suffix)]
                version = rec.labels.get(common.VERSION_LABEL, "")
                state = None if ev.type == records.DELETED else (rec.owners, version)
                assert index is not None
                self.stacks[owner].children[index] = state
                touched.add(owner)
        for name in touched:
            if self.stacks[name].converged():
                self.converged.add(name)
                waiter = self._waiters.pop(name, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            else:
                self.converged.discard(name)
        if self.target and not self.done.is_set() and len(self.converged) >= self.target:
            self.done_at = time.perf_counter()
            self.done.set()

    def wait_converged(self, name: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.stacks[name].converged():
            fut.set_result(None)
        else:
            self._waiters[name] = fut
        return fut


# -- an operator process -------------------------------------------------------------------


class Operator:
    """An operator subprocess; reads its ``S``/``E`` reconcile stamps from stdout."""

    def __init__(self, label: str, argv: Sequence[str], env: dict[str, str], log: pathlib.Path):
        self.label = label
        self.argv = list(argv)
        self.env = env
        self.log_path = log
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.ends = 0
        self.last_stamp = 0.0
        self.per_object: collections.Counter[str] = collections.Counter()
        self._expect: dict[str, tuple[float, asyncio.Future[float]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=REPO,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            parts = raw.split()
            if len(parts) != 3 or parts[0] not in (b"S", b"E"):
                continue
            key, t = parts[1].decode(), float(parts[2])
            self.last_stamp = time.perf_counter()
            if parts[0] == b"E":
                self.ends += 1
                continue
            self.starts += 1
            self.per_object[key] += 1
            pending = self._expect.get(key)
            if pending is not None and t >= pending[0] and not pending[1].done():
                pending[1].set_result(t)
                del self._expect[key]

    def expect_start(self, key: str, after: float) -> asyncio.Future[float]:
        """A future for the first reconcile start of ``key`` stamped at or after ``after``."""
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._expect[key] = (after, fut)
        return fut

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def status_kib(self, field_name: str) -> int:
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise KeyError(field_name)

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def pilothouse_operator(
    kubeconfig: pathlib.Path, namespace: str, setup: str, concurrency: int, log: pathlib.Path
) -> Operator:
    argv = [sys.executable, "-m", "pilothouse.cli", "run", "--kubeconfig", str(kubeconfig)]
    argv += ["-n", namespace, "--controllers", f"bench.runtime_pilothouse:{setup}"]
    argv += ["--metrics-bind-address", "0", "--health-probe-bind-address", "0"]
    argv += ["--no-install-crds"]
    env = {**os.environ, "BENCH_MAX_CONCURRENT": str(concurrency)}
    return Operator("Pilothouse", argv, env, log)


def kopf_operator(
    kubeconfig: pathlib.Path, namespace: str, max_workers: int, log: pathlib.Path
) -> Operator:
    argv = [sys.executable, "-m", "kopf", "run", "--standalone", "-n", namespace]
    argv += ["-m", "bench.runtime_kopf"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    if max_workers:
        env["BENCH_KOPF_MAX_WORKERS"] = str(max_workers)
    return Operator("kopf", argv, env, log)


# -- the phases ----------------------------------------------------------------------------


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def _until(
    check: Callable[[], bool], timeout: float, what: str, op: Operator | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if op is not None and not op.alive():
            raise RuntimeError(f"{op.label} exited:\n{op.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.005)  # polling in-process state, with a deadline


async def _idle(op: Operator, counter: RequestCounter, timeout: float = 30.0) -> None:
    """Until no reconcile is running and neither requests nor stamps came for QUIET s."""

    def quiet() -> bool:
        now = time.perf_counter()
        return (
            op.starts == op.ends
            and now - counter.operator_last() >= QUIET
            and now - op.last_stamp >= QUIET
        )

    await _until(quiet, timeout, f"{op.label} did not become idle", op)


async def _create_all(client: client_mod.Client, bodies: list[dict[str, Any]]) -> None:
    it = iter(bodies)

    async def worker() -> None:
        for body in it:
            await client.create(body)

    await asyncio.gather(*(worker() for _ in range(CONCURRENT_CREATES)))


async def _namespace(client: client_mod.Client, name: str) -> None:
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


async def _delete_namespace(
    srv: server_mod.APIServer, client: client_mod.Client, name: str
) -> None:
    """Delete a namespace and wait until it and everything in it are gone, so that the next
    operator starts against the same server state (Service creation, for one, costs more
    with every Service that exists)."""
    await client.delete(kinds.NAMESPACE, name)
    assert srv.state is not None
    store = srv.state.store
    grs = (STACK_GR, *CHILD_GRS)
    await _until(
        lambda: (
            store.get("namespaces", "", name) is None
            and not any(store.count(gr, name) for gr in grs)
        ),
        300,
        f"namespace {name} was not deleted",
    )


@dataclass
class OperatorFigures:
    label: str
    wall: float = 0.0
    converged: int = 0
    requests: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    startup_requests: int = 0
    rss_ready_mib: float = 0.0
    rss_peak_mib: float = 0.0
    cpu_operator: float = 0.0
    cpu_server: float = 0.0
    reconciles: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.converged / self.wall if self.wall else 0.0


async def run_operator(
    srv: server_mod.APIServer,
    client: client_mod.Client,
    counter: RequestCounter,
    op: Operator,
    namespace: str,
    watched: set[str],
    n: int,
    samples: int,
) -> OperatorFigures:
    figs = OperatorFigures(op.label)
    assert srv.state is not None
    store = srv.state.store
    tracker = Tracker(namespace)
    store.listeners.append(tracker)
    before_start = counter.snapshot()
    await op.start()
    try:
        await _until(
            lambda: watched <= counter.operator_watches(namespace),
            60,
            f"{op.label} did not start watching {sorted(watched)}",
            op,
        )
        await _idle(op, counter)
        figs.rss_ready_mib = op.status_kib("VmRSS") / 1024
        before = counter.snapshot()
        figs.startup_requests = sum(_operator_requests(before_start, before).values())
        names = [f"s-{i:05d}" for i in range(n)]
        tracker.target = n
        cpu0, usage0 = op.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        await _create_all(client, [common.stack(name, namespace) for name in names])
        try:
            await asyncio.wait_for(tracker.done.wait(), max(120.0, n * 0.5))
            figs.wall = tracker.done_at - t0
            figs.converged = n
        except TimeoutError:
            figs.wall = time.perf_counter() - t0
            figs.converged = len(tracker.converged)
            print(f"{op.label}: only {figs.converged}/{n} converged", file=sys.stderr)
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        figs.cpu_operator = op.cpu_seconds() - cpu0
        figs.cpu_server = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)

        async def silent() -> None:
            await _until(
                lambda: time.perf_counter() - counter.operator_last() >= 1.0,
                30,
                f"{op.label} kept sending requests",
                op,
            )

        await silent()
        figs.requests = _operator_requests(before, counter.snapshot())
        figs.reconciles = op.starts

        for i in range(min(samples, n) if figs.converged == n else 0):
            name = names[i]
            await _idle(op, counter)
            t_change = time.time()
            started = op.expect_start(f"{namespace}/{name}", t_change)
            await client.patch(
                STACK_KIND, name, {"spec": {"version": f"v{i + 2}"}}, namespace=namespace
            )
            t_start = await asyncio.wait_for(started, 30)
            figs.latencies.append(t_start - t_change)
            await asyncio.wait_for(tracker.wait_converged(name), 30)
        figs.rss_peak_mib = op.status_kib("VmHWM") / 1024
    finally:
        store.listeners.remove(tracker)
        await op.stop()
    return figs


async def cache_rss(
    client: client_mod.Client,
    counter: RequestCounter,
    kubeconfig: pathlib.Path,
    tmp: pathlib.Path,
    objects: int,
    concurrency: int,
) -> tuple[float, float, float, float]:
    """(idle RSS on an empty namespace, RSS with ``objects`` cached, peak, seconds to list
    and reconcile them all), all for a Pilothouse manager watching ConfigMaps."""
    await _namespace(client, "bench-cache-empty")
    await _namespace(client, "bench-cache")
    empty = pilothouse_operator(
        kubeconfig, "bench-cache-empty", "setup_cache", concurrency, tmp / "cache-empty.log"
    )
    await empty.start()
    try:
        await _until(
            lambda: "configmaps" in counter.operator_watches("bench-cache-empty"),
            60,
            "cache manager did not start",
            empty,
        )
        await _idle(empty, counter)
        idle_rss = empty.status_kib("VmRSS") / 1024
    finally:
        await empty.stop()
    payload = "x" * 1000
    bodies = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:05d}", "namespace": "bench-cache"},
            "data": {"payload": payload},
        }
        for i in range(objects)
    ]
    await _create_all(client, bodies)
    full = pilothouse_operator(
        kubeconfig, "bench-cache", "setup_cache", concurrency, tmp / "cache-full.log"
    )
    t0 = time.perf_counter()
    await full.start()
    try:
        await _until(lambda: full.ends >= objects, 300, "cache manager did not reconcile", full)
        took = time.perf_counter() - t0
        await _idle(full, counter)
        return idle_rss, full.status_kib("VmRSS") / 1024, full.status_kib("VmHWM") / 1024, took
    finally:
        await full.stop()


# -- report --------------------------------------------------------------------------------


def _by(requests: collections.Counter[tuple[str, str]], index: int) -> str:
    grouped: collections.Counter[str] = collections.Counter()
    for key, count in requests.items():
        grouped[key[index] or "(none)"] += count
    return ", ".join(f"{what} {count:,}" for what, count in grouped.most_common())


def _spread(values: Sequence[float], fmt: str) -> str:
    """Median, and min-max when there are several values."""
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(
    runs: dict[str, list[OperatorFigures]],
    n: int,
    cache: tuple[float, float, float, float] | None,
    cache_objects: int,
    concurrency: int,
) -> None:
    labels = list(runs)
    rounds = len(next(iter(runs.values())))
    cols = [runs[label] for label in labels]

    def row(title: str, cells: Iterable[str], target: str = "") -> None:
        print(f"| {title} | " + " | ".join(cells) + f" | {target} |")

    print(f"| figure | {' | '.join(f.label for f in (c[0] for c in cols))} | target |")
    print("|---|" + "---|" * len(cols) + "---|")
    what = "median (min-max) of " if rounds > 1 else ""
    row(
        f"{n:,} Stacks: create → all converged, {what}{rounds} round{'s' * (rounds > 1)}",
        (_spread([f.wall for f in c], ".2f") + " s" for c in cols),
    )
    row("Stacks converged per second", (_spread([f.throughput for f in c], ",.0f") for c in cols))
    row(
        "API requests per Stack while converging",
        (_spread([sum(f.requests.values()) / n for f in c], ".2f") for c in cols),
    )
    row(
        "reconciles (handler calls) per Stack",
        (_spread([f.reconciles / n for f in c], ".2f") for c in cols),
    )
    row(
        "operator CPU per Stack",
        (_spread([f.cpu_operator / n * 1000 for f in c], ".1f") + " ms" for c in cols),
    )
    row(
        "API server process CPU per Stack (busy share of its core)",
        (
            _spread([f.cpu_server / n * 1000 for f in c], ".1f")
            + f" ms ({statistics.median(f.cpu_server / f.wall for f in c):.0%})"
            for c in cols
        ),
    )
    row(
        "RSS: ready (empty) / peak",
        (
            f"{statistics.median(f.rss_ready_mib for f in c):.0f} MiB / "
            f"{max(f.rss_peak_mib for f in c):.0f} MiB"
            for c in cols
        ),
    )
    lat = [c[0].latencies for c in cols]
    row(
        f"idle change → reconcile start, p50 / p99 ({len(lat[0])} changes)",
        (
            f"{_pct(v, 0.5) * 1000:.1f} ms / {_pct(v, 0.99) * 1000:.1f} ms" if v else "n/a"
            for v in lat
        ),
        "Pilothouse p99 ≤ 10 ms",
    )
    if "Pilothouse" in runs and "kopf" in runs:
        pairs = [
            p.throughput / k.throughput
            for p, k in zip(runs["Pilothouse"], runs["kopf"], strict=True)
        ]
        med = statistics.median(runs["kopf"][i].wall for i in range(rounds)) / statistics.median(
            runs["Pilothouse"][i].wall for i in range(rounds)
        )
        per_round = ", ".join(f"{r:.2f}" for r in pairs)
        pad = [""] * (len(cols) - 1)
        row(
            "throughput ratio Pilothouse / kopf",
            [f"{med:.2f}x (rounds: {per_round})", *pad],
            "≥ 3x",
        )
    if cache is not None:
        idle, full, peak, took = cache
        row(
            f"Pilothouse manager RSS, {cache_objects:,} cached ConfigMaps of ~1 KB",
            [
                f"{full:.0f} MiB (peak {peak:.0f}; empty: {idle:.0f}; synced in {took:.1f} s)",
                *([""] * (len(cols) - 1)),
            ],
            "≤ 100 MB",
        )
    print()
    for label, figs in runs.items():
        f = figs[0]
        print(f"{label} requests, round 1, by kind: {_by(f.requests, 1)}")
        print(f"{label} requests, round 1, by User-Agent: {_by(f.requests, 0)}")
        print(f"{label} start-up requests (before the first create): {f.startup_requests}")
        walls = ", ".join(f"{g.wall:.2f}" for g in figs)
        print(f"{label} convergence per round: {walls} s")
    print(
        f"\nPilothouse max_concurrent_reconciles={concurrency}; "
        f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}"
    )


# -- main ----------------------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> None:
    counter = RequestCounter()
    order = args.operators.split(",")
    runs: dict[str, list[OperatorFigures]] = {}
    cache = None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        with counting(counter):
            srv = server_mod.APIServer(server_mod.ServerConfig(simulation=False))
            await srv.start()
        # As `pilothouse cluster up` does (cli/cluster.py): fewer young-generation
        # collections, start-up objects out of the collector's sight.
        gc.set_threshold(50_000, 20, 100)
        gc.freeze()
        kubeconfig = srv.write_kubeconfig(tmp / "kubeconfig", merge=False)
        client = client_mod.Client(fixtures.client_config(srv), user_agent=DRIVER_AGENT)
        try:
            await client.create(common.CRD)

            async def served() -> bool:
                try:
                    await client.list(STACK_KIND, "default", limit=1)
                    return True
                except errors.NotFound:
                    return False

            deadline = time.monotonic() + 30
            while not await served():
                if time.monotonic() > deadline:
                    raise TimeoutError("the Stack CRD was not served")
                await asyncio.sleep(0.05)  # polling the CRD's establishment, with a deadline
            for r in range(args.rounds):
                # Alternate the order, so neither operator always runs first.
                for which in order if r % 2 == 0 else order[::-1]:
                    ns = f"bench-{which}-{r + 1}"
                    log = tmp / f"{which}-{r + 1}.log"
                    await _namespace(client, ns)
                    if which == "pilothouse":
                        op = pilothouse_operator(kubeconfig, ns, "setup", args.max_concurrent, log)
                        watched = {common.PLURAL, "configmaps", "services", "deployments"}
                    elif which == "kopf":
                        op = kopf_operator(kubeconfig, ns, args.kopf_max_workers, log)
                        watched = {common.PLURAL}
                    else:
                        raise SystemExit(f"unknown operator {which!r}")
                    samples = args.latency_samples if r == 0 else 0
                    f = await run_operator(
                        srv, client, counter, op, ns, watched, args.objects, samples
                    )
                    runs.setdefault(f.label, []).append(f)
                    print(
                        f"round {r + 1}: {f.label} {f.wall:.2f} s, "
                        f"{sum(f.requests.values()):,} requests, peak {f.rss_peak_mib:.0f} MiB",
                        file=sys.stderr,
                    )
                    if args.keep_logs:
                        (pathlib.Path(args.keep_logs) / log.name).write_bytes(log.read_bytes())
                    await _delete_namespace(srv, client, ns)
            if args.cache_objects:
                cache = await cache_rss(
                    client, counter, kubeconfig, tmp, args.cache_objects, args.max_concurrent
                )
        finally:
            await client.close()
            await srv.stop()
    report(runs, args.objects, cache, args.cache_objects, args.max_concurrent)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench runtime")
    parser.add_argument("--objects", type=int, default=1000, help="Stacks per operator")
    parser.add_argument("--rounds", type=int, default=3, help="convergence rounds each")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--cache-objects", type=int, default=10_000, help="0 skips it")
    parser.add_argument("--max-concurrent", type=int, default=32, help="Pilothouse workers")
    parser.add_argument(
        "--kopf-max-workers", type=int, default=0, help="kopf handler threads (0: its default)"
    )
    parser.add_argument("--operators", default="pilothouse,kopf", help="which, in order")
    parser.add_argument("--keep-logs", default="", help="copy operator logs to this dir")
    args = parser.parse_args(argv)
    asyncio.run(_main(args))
