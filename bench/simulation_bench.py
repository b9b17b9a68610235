"""The simulated cluster's figures: time for 1,000 Deployments of 3 replicas to become
Available with a 0 s pod start delay, and the server's CPU use while idle with 10,000 pods.

The server runs in its own process (``pilothouse cluster up --memory``) with simulation on
and enough nodes for the pods; load comes from this process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import pathlib
import tempfile
import time

import aiohttp
import orjson
import yaml

from pilothouse import pki
from pilothouse.testing import process

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def _cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _deployment(name: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
            },
        },
    }


async def _converge(srv: process.ClusterProcess, n: int, replicas: int) -> float:
    kc = yaml.safe_load(srv.kubeconfig.read_text())
    ca = base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"])
    headers = {"Authorization": f"Bearer {kc['users'][0]['user']['token']}"}
    ssl_ctx = pki.ssl_client_context(ca)
    conn = aiohttp.TCPConnector(limit=16, ssl=ssl_ctx)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:
        t0 = time.perf_counter()
        names = iter(range(n))

        async def creator() -> None:
            for i in names:
                body = orjson.dumps(_deployment(f"d{i}", replicas))
                async with session.post(
                    srv.url + DEPLOYMENTS, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    assert resp.status == 201, await resp.text()

        await asyncio.gather(*(creator() for _ in range(16)))
        deadline = t0 + 1800
        while time.perf_counter() < deadline:
            async with session.get(srv.url + DEPLOYMENTS) as resp:
                items = (await resp.json())["items"]
            available = sum(
                1 for d in items if (d.get("status") or {}).get("availableReplicas") == replicas
            )
            if available == n:
                return time.perf_counter() - t0
            await asyncio.sleep(0.5)  # polling the outcome, with a deadline
        raise TimeoutError(f"only {available} of {n} deployments became available")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench simulation")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--idle-pods", type=int, default=10_000)
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        nodes = str(max(1, args.deployments * 3 // 100 + 1))
        srv = process.ClusterProcess(pathlib.Path(tmp) / "a", "--memory", "--nodes", nodes)
        srv.start()
        try:
            secs = asyncio.run(_converge(srv, args.deployments, 3))
            rows.append(
                (
                    f"{args.deployments:,} Deployments of 3 replicas Available (0 s delay)",
                    f"{secs:.1f} s",
                    "",
                )
            )
        finally:
            srv.stop()
        nodes = str(max(1, args.idle_pods // 100 + 1))
        srv = process.ClusterProcess(pathlib.Path(tmp) / "b", "--memory", "--nodes", nodes)
        srv.start()
        try:
            asyncio.run(_converge(srv, args.idle_pods // 10, 10))
            assert srv.proc is not None
            before, t0 = _cpu_seconds(srv.proc.pid), time.monotonic()
            time.sleep(10)  # measuring idle CPU over a fixed window is the point here
            cpu = (_cpu_seconds(srv.proc.pid) - before) / (time.monotonic() - t0)
            rows.append(
                (
                    f"server CPU while idle with {args.idle_pods:,} pods",
                    f"{cpu * 100:.1f}% of a core",
                    "near zero",
                )
            )
        finally:
            srv.stop()
    print("| figure | measured | target |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
