"""``/api/v1/ws/sessions`` end to end: the API under uvicorn on a free 127.0.0.1 port (so the
WebSocket handshake, subprotocols and close codes are the real protocol), against the
embedded API server, driven by aiohttp's WebSocket client and httpx for the REST calls.
No controllers run: the Sessions change only through the API and this test."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio
import uvicorn

from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import operator_setup
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth, routes_ws
from pilothouse.testing import fixtures

NS = "default"
SESSION = operator_setup.CRDS[0].kind_info()
ALICE = {"Authorization": "Bearer t-alice"}
BOB = {"Authorization": "Bearer t-bob"}
TOKENS = {"t-alice": auth.User("alice"), "t-bob": auth.User("bob")}
TIMEOUT = 10.0


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test process's handlers stay pytest's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Harness:
    def __init__(
        self, server: uvicorn.Server, base: str, http: httpx.AsyncClient, ws: aiohttp.ClientSession
    ) -> None:
        self.server = server
        self.base = base
        self.http = http
        self.ws = ws

    def connect(
        self,
        *,
        headers: dict[str, str] | None = None,
        query: str = "",
        protocols: tuple[str, ...] = (),
    ) -> Any:
        url = f"ws://{self.base}{routes_ws.PATH}{query}"
        return self.ws.ws_connect(url, headers=headers, protocols=protocols, autoping=True)


@pytest_asyncio.fixture
async def harness(
    kube_apiserver: server_mod.APIServer,
    sessions_client: client_mod.Client,
    tmp_path: pathlib.Path,
) -> AsyncIterator[Harness]:
    async def factory() -> client_mod.Client:
        return client_mod.Client(fixtures.client_config(kube_apiserver))

    settings = app_mod.Settings(
        tokens=TOKENS, namespace=NS, database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    )
    app = app_mod.create_app(settings, factory)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, ws="wsproto", lifespan="on", log_level="warning"
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            # Waiting on the server's own start, with the task's failure surfacing at once.
            done, _ = await asyncio.wait({task}, timeout=0.01)
            if done:
                task.result()
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"127.0.0.1:{port}"
        async with (
            httpx.AsyncClient(base_url=f"http://{base}") as http,
            aiohttp.ClientSession() as ws,
        ):
            yield Harness(server, base, http, ws)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    out: dict[str, Any] = msg.json()
    return out


async def create(h: Harness, headers: dict[str, str], name: str) -> None:
    resp = await h.http.post("/api/v1/sessions", json={"name": name, "image": "x"}, headers=headers)
    assert resp.status_code == 202, resp.text


async def test_snapshot_then_the_users_own_changes(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    await create(harness, ALICE, "a1")
    await create(harness, BOB, "b1")
    listed = (await harness.http.get("/api/v1/sessions", headers=ALICE)).json()["items"]

    async with harness.connect(headers=ALICE) as ws:
        assert await receive(ws) == {"type": "snapshot", "sessions": listed}
        assert [s["name"] for s in listed] == ["a1"]

        # Bob's change comes first in the watch; had it been delivered, it would be next.
        await create(harness, BOB, "b2")
        await create(harness, ALICE, "a2")
        msg = await receive(ws)
        assert (msg["type"], msg["session"]["name"], msg["session"]["user"]) == (
            "ADDED",
            "a2",
            "alice",
        )
        got = (await harness.http.get("/api/v1/sessions/a2", headers=ALICE)).json()
        assert msg["session"] == got

        resp = await harness.http.post("/api/v1/sessions/a2/hibernate", headers=BOB)
        assert resp.status_code == 404
        resp = await harness.http.post("/api/v1/sessions/b2/hibernate", headers=BOB)
        assert resp.status_code == 202
        resp = await harness.http.post("/api/v1/sessions/a2/hibernate", headers=ALICE)
        assert resp.status_code == 202
        msg = await receive(ws)
        assert (msg["type"], msg["session"]["name"], msg["session"]["state"]) == (
            "MODIFIED",
            "a2",
            "hibernated",
        )

        # The API's DELETE terminates (the Session stays, MODIFIED); DELETED comes when the
        # object itself is removed.
        assert (await harness.http.delete("/api/v1/sessions/a1", headers=ALICE)).status_code == 202
        msg = await receive(ws)
        assert (msg["type"], msg["session"]["name"], msg["session"]["state"]) == (
            "MODIFIED",
            "a1",
            "terminated",
        )
        await sessions_client.delete(SESSION, "b1", NS)
        await sessions_client.delete(SESSION, "a1", NS)
        msg = await receive(ws)
        assert (msg["type"], msg["session"]["name"]) == ("DELETED", "a1")


async def test_each_way_of_sending_the_token_is_accepted(harness: Harness) -> None:
    await create(harness, BOB, "b1")
    async with harness.connect(query="?token=t-bob") as ws:
        msg = await receive(ws)
        assert [s["name"] for s in msg["sessions"]] == ["b1"]
    async with harness.connect(protocols=("other", "bearer.t-bob")) as ws:
        assert ws.protocol == "bearer.t-bob"
        msg = await receive(ws)
        assert [s["name"] for s in msg["sessions"]] == ["b1"]
    async with harness.connect(headers=ALICE) as ws:
        assert await receive(ws) == {"type": "snapshot", "sessions": []}


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"query": "?token=wrong"},
        {"protocols": ("bearer.wrong",)},
        {"headers": {"Authorization": "Basic t-alice"}},
    ],
)
async def test_a_bad_token_is_closed_with_4401_before_anything_is_sent(
    harness: Harness, how: dict[str, Any]
) -> None:
    async with harness.connect(**how) as ws:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.CLOSE, (msg.type, msg.data)
        assert msg.data == routes_ws.CLOSE_UNAUTHORIZED
        assert msg.extra == "missing or invalid bearer token"


async def test_shutdown_closes_open_sockets(harness: Harness) -> None:
    # uvicorn closes its connections (1012, service restart) before the lifespan ends; the
    # lifespan's own close (1001, going away) covers servers that do not (unit-tested).
    # Either way the client is told, and the server stops (the fixture waits for it).
    async with harness.connect(headers=ALICE) as ws:
        assert (await receive(ws))["type"] == "snapshot"
        harness.server.should_exit = True
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.CLOSE, (msg.type, msg.data)
        assert msg.data in (1012, 1001)
