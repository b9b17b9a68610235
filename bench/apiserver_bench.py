"""The embedded API server's figures (issue: creates/s, watch latency, LIST, RSS, start).

The server runs in its own process (``pilothouse cluster up --memory --no-simulation``), as a
user runs it, and the load comes from this process over HTTPS on 127.0.0.1, so server and
client each have one of the machine's two cores. Every figure is printed as a Markdown table
row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import aiohttp
import orjson
import yaml

from pilothouse import pki
from pilothouse.testing import process

CMS = "/api/v1/namespaces/default/configmaps"


class Server:
    """A ``pilothouse cluster up`` process and the credentials to load it."""

    def __init__(self, state: pathlib.Path, *, memory: bool = True) -> None:
        mode = ("--memory",) if memory else ()
        self.process = process.ClusterProcess(state, *mode, "--no-simulation").start()
        self.url = self.process.url
        kc = yaml.safe_load(self.process.kubeconfig.read_text())
        self.ca = base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"])
        self.token = kc["users"][0]["user"]["token"]

    def rss_mib(self) -> float:
        assert self.process.proc is not None
        status = pathlib.Path(f"/proc/{self.process.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.stop()


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def _create_many(srv: Server, n: int, clients: int, payload: int, prefix: str) -> float:
    ssl_ctx = pki.ssl_client_context(srv.ca)
    headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/json"}
    data = "x" * payload
    it = iter(range(n))
    conn = aiohttp.TCPConnector(limit=clients, ssl=ssl_ctx)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:

        async def worker() -> None:
            for i in it:
                body = orjson.dumps(
                    {"metadata": {"name": f"{prefix}-{i}"}, "data": {"payload": data}}
                )
                async with session.post(srv.url + CMS, data=body) as resp:
                    if resp.status != 201:
                        raise RuntimeError(await resp.text())
                    await resp.read()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - t0


async def _watch_latency(srv: Server, watchers: int, writes: int) -> tuple[float, float]:
    ssl_ctx = pki.ssl_client_context(srv.ca)
    headers = {"Authorization": f"Bearer {srv.token}"}
    sent: dict[str, float] = {}
    latencies: list[float] = []
    conn = aiohttp.TCPConnector(limit=watchers + 4, ssl=ssl_ctx)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:
        async with session.get(srv.url + CMS + "?limit=1") as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        ready = asyncio.Semaphore(0)

        async def watch() -> None:
            async with session.get(
                f"{srv.url}{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=120"
            ) as resp:
                ready.release()
                seen = 0
                async for line in resp.content:
                    now = time.perf_counter()
                    name = orjson.loads(line)["object"]["metadata"]["name"]
                    latencies.append(now - sent[name])
                    seen += 1
                    if seen == writes:
                        return

        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        for _ in range(watchers):
            await ready.acquire()
        for i in range(writes):
            name = f"lat-{i}"
            sent[name] = time.perf_counter()
            async with session.post(
                srv.url + CMS,
                data=orjson.dumps({"metadata": {"name": name}}),
                headers={"Content-Type": "application/json"},
            ) as resp:
                await resp.read()
            await asyncio.sleep(0.01)  # a steady write rate, not a burst
        await asyncio.gather(*tasks)
    return _pct(latencies, 0.5) * 1000, _pct(latencies, 0.99) * 1000


async def _list_time(srv: Server, accept: str | None, repeat: int = 5) -> float:
    ssl_ctx = pki.ssl_client_context(srv.ca)
    headers = {"Authorization": f"Bearer {srv.token}"}
    if accept:
        headers["Accept"] = accept
    times = []
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(ssl=ssl_ctx)
    ) as session:
        for _ in range(repeat):
            t0 = time.perf_counter()
            async with session.get(srv.url + CMS) as resp:
                body = await resp.read()
            times.append(time.perf_counter() - t0)
            assert resp.status == 200, body[:200]
    return statistics.median(times) * 1000


_COLD_START = """
import asyncio, time
t0 = time.perf_counter()
from pilothouse.apiserver import server
t1 = time.perf_counter()
async def main():
    srv = server.APIServer(server.ServerConfig(simulation=False))
    t2 = time.perf_counter()
    await srv.start()
    t3 = time.perf_counter()
    await srv.stop()
    print((t1 - t0) * 1000, (t3 - t2) * 1000)
asyncio.run(main())
"""


def _cold_start(repeat: int) -> tuple[float, float]:
    """(import ms, first start ms) in fresh interpreters, medians."""
    imports, starts = [], []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _COLD_START], capture_output=True, text=True, check=True
        )
        a, b = out.stdout.split()
        imports.append(float(a))
        starts.append(float(b))
    return statistics.median(imports), statistics.median(starts)


async def _start_time(repeat: int) -> float:
    from pilothouse.apiserver import server as server_mod

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        srv = server_mod.APIServer(server_mod.ServerConfig(simulation=False))
        await srv.start()
        times.append(time.perf_counter() - t0)
        await srv.stop()
    return statistics.median(times) * 1000


def _rates(srv: Server, n: int, prefix: str, rounds: int = 3) -> str:
    """Median (min-max) creates/s over ``rounds`` rounds of ``n``, after a warm-up."""
    asyncio.run(_create_many(srv, 1000, 16, 100, f"{prefix}-warm"))
    rates = [n / asyncio.run(_create_many(srv, n, 16, 100, f"{prefix}{r}")) for r in range(rounds)]
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench apiserver")
    parser.add_argument("--creates", type=int, default=20_000)
    parser.add_argument("--rss-objects", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the bench runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.creates, args.rss_objects = 2_000, 5_000
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(pathlib.Path(tmp))
        try:
            rows.append(
                (
                    "creates/s, 16 concurrent clients (memory store)",
                    _rates(srv, args.creates, "c"),
                    "≥ 3,000",
                )
            )
            p50, p99 = asyncio.run(_watch_latency(srv, 100, 200))
            rows.append(
                (
                    "watch delivery latency p50 / p99, 100 watchers",
                    f"{p50:.1f} ms / {p99:.1f} ms",
                    "p99 ≤ 20 ms",
                )
            )
        finally:
            srv.stop()
        srv = Server(pathlib.Path(tmp) / "durable", memory=False)
        try:
            rows.append(
                (
                    "creates/s, 16 concurrent clients (SQLite, the default)",
                    _rates(srv, args.creates, "d"),
                    "≥ 3,000",
                )
            )
        finally:
            srv.stop()
        srv = Server(pathlib.Path(tmp) / "list")
        try:
            asyncio.run(_create_many(srv, 10_000, 16, 100, "l"))
            rows.append(
                ("LIST 10k ConfigMaps (JSON)", f"{asyncio.run(_list_time(srv, None)):.0f} ms", "")
            )
            table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
            rows.append(
                (
                    "LIST 10k ConfigMaps (Table, kubectl get)",
                    f"{asyncio.run(_list_time(srv, table, 3)):.0f} ms",
                    "",
                )
            )
        finally:
            srv.stop()
        srv = Server(pathlib.Path(tmp) / "rss")
        try:
            base = srv.rss_mib()
            asyncio.run(_create_many(srv, args.rss_objects, 16, 1000, "r"))
            rows.append(
                (
                    f"RSS with {args.rss_objects:,} ConfigMaps of ~1 KB",
                    f"{srv.rss_mib():,.0f} MiB (idle: {base:.0f} MiB)",
                    "≤ 1 GiB",
                )
            )
        finally:
            srv.stop()
    imports, first = _cold_start(5)
    rows.append(
        (
            "in-process start, first in a fresh process (median of 5)",
            f"{first:.0f} ms (+ {imports:.0f} ms of imports)",
            "≤ 500 ms",
        )
    )
    rows.append(
        (
            "in-process start, later starts in the same process (median of 10)",
            f"{asyncio.run(_start_time(10)):.0f} ms",
            "≤ 500 ms",
        )
    )
    print("| figure | measured | target |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print(f"\nmachine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
