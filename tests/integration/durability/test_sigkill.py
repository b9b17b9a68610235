"""Durability: every write acknowledged before a SIGKILL is there after the restart, and
resourceVersions continue from where they were."""

from __future__ import annotations

import asyncio
import pathlib
import signal

import aiohttp
import orjson

from pilothouse import pki
from pilothouse.testing.process import ClusterProcess

CMS = "/api/v1/namespaces/default/configmaps"


async def _storm(server: ClusterProcess, acked: dict[str, int], threshold: int) -> None:
    """Eight writers create ConfigMaps until the server dies; SIGKILL once ``threshold``
    writes are acknowledged, while the others are in flight."""
    ssl_ctx = pki.ssl_client_context((server.state_dir / "pki" / "ca.crt").read_bytes())
    token = (server.state_dir / "token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    counter = iter(range(10**9))

    async def writer(session: aiohttp.ClientSession) -> None:
        while True:
            i = next(counter)
            body = orjson.dumps({"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
            try:
                async with session.post(server.url + CMS, data=body, ssl=ssl_ctx) as resp:
                    if resp.status != 201:
                        return
                    obj = await resp.json()
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                return
            acked[obj["metadata"]["name"]] = int(obj["metadata"]["resourceVersion"])
            if len(acked) == threshold:
                server.stop(signal.SIGKILL)

    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(*(writer(session) for _ in range(8)))


def test_acknowledged_writes_survive_sigkill(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    server = ClusterProcess(state, "--no-simulation").start()
    acked: dict[str, int] = {}
    asyncio.run(_storm(server, acked, threshold=200))
    assert len(acked) >= 200

    again = ClusterProcess(state, "--no-simulation").start()
    try:
        raw = again.client()
        items = raw.request("GET", CMS).json()["items"]
        found = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in items}
        missing = {n for n in acked if n not in found}
        assert not missing, f"{len(missing)} acknowledged writes lost"
        assert all(found[n] == rv for n, rv in acked.items())
        after = raw.request("POST", CMS, {"metadata": {"name": "after"}}).json()
        assert int(after["metadata"]["resourceVersion"]) > max(found.values())
    finally:
        again.stop()
