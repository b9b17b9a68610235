"""Durability: every write acknowledged before a SIGKILL is there after the restart, and
resourceVersions continue from where they were."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time

import aiohttp
import orjson

from pilothouse import pki


def _start(state_dir: pathlib.Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pilothouse.cli",
            "cluster",
            "up",
            "--state-dir",
            str(state_dir),
            "--kubeconfig",
            str(state_dir / "kubeconfig"),
            "--no-simulation",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("https://"):
            return proc, line.strip()
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("server did not print its URL")


async def _storm(
    url: str, state_dir: pathlib.Path, acked: dict[str, int], reached: asyncio.Event, threshold: int
) -> None:
    ssl_ctx = pki.ssl_client_context((state_dir / "pki" / "ca.crt").read_bytes())
    token = (state_dir / "token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    counter = iter(range(10**9))

    async def writer(session: aiohttp.ClientSession) -> None:
        while True:
            i = next(counter)
            body = {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}
            try:
                async with session.post(
                    f"{url}/api/v1/namespaces/default/configmaps",
                    data=orjson.dumps(body),
                    headers=headers,
                    ssl=ssl_ctx,
                ) as resp:
                    if resp.status != 201:
                        return
                    obj = await resp.json()
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                return
            acked[obj["metadata"]["name"]] = int(obj["metadata"]["resourceVersion"])
            if len(acked) >= threshold:
                reached.set()

    async with aiohttp.ClientSession() as session:
        # Writers stop on their own once the server is gone.
        await asyncio.gather(*(writer(session) for _ in range(8)))


def test_acknowledged_writes_survive_sigkill(tmp_path: pathlib.Path) -> None:
    state_dir = tmp_path / "state"
    proc, url = _start(state_dir)
    acked: dict[str, int] = {}

    async def storm_and_kill() -> None:
        reached = asyncio.Event()
        storm = asyncio.create_task(_storm(url, state_dir, acked, reached, threshold=200))
        await asyncio.wait_for(reached.wait(), 60)
        os.kill(proc.pid, signal.SIGKILL)  # mid-storm: writes are in flight
        await storm

    asyncio.run(storm_and_kill())
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()
    assert len(acked) >= 200

    proc2, url2 = _start(state_dir)
    try:

        async def read_back() -> tuple[dict[str, int], int]:
            ssl_ctx = pki.ssl_client_context((state_dir / "pki" / "ca.crt").read_bytes())
            token = (state_dir / "token").read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession() as session:
                async with session.get(
                    f"{url2}/api/v1/namespaces/default/configmaps", headers=headers, ssl=ssl_ctx
                ) as resp:
                    body = await resp.json()
                async with session.post(
                    f"{url2}/api/v1/namespaces/default/configmaps",
                    data=orjson.dumps({"metadata": {"name": "after"}}),
                    headers={**headers, "Content-Type": "application/json"},
                    ssl=ssl_ctx,
                ) as resp:
                    after = await resp.json()
            found = {
                i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in body["items"]
            }
            return found, int(after["metadata"]["resourceVersion"])

        found, next_rv = asyncio.run(read_back())
        missing = {n for n in acked if n not in found}
        assert not missing, f"{len(missing)} acknowledged writes lost"
        assert all(found[n] == rv for n, rv in acked.items())
        assert next_rv > max(found.values())
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.wait(20)
        assert proc2.stdout is not None
        proc2.stdout.close()
