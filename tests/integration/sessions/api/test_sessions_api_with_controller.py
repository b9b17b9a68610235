"""The sessions API together with the Session controller on a simulated one-node cluster:
create through the API → Running; hibernate → Hibernated; a connection → Running again
(the API's wake signal honoured by the controller); heartbeats reach ``lastActivity``."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio

from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import lifecycle, operator_setup
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth
from pilothouse.testing import fixtures
from pilothouse.testing.eventually import eventually_async

NS = "default"
ALICE = {"Authorization": "Bearer t-alice"}
Make = Callable[..., fixtures.ManagerHandle]


@pytest_asyncio.fixture
async def http(
    kube_apiserver: server_mod.APIServer,
    sessions_client: client_mod.Client,
    make_manager: Make,
    tmp_path: pathlib.Path,
) -> AsyncIterator[httpx.AsyncClient]:
    handle = make_manager(lambda mgr: operator_setup.setup(mgr, lifecycle.SessionOptions()))
    handle.start()
    await handle.wait_started()

    async def factory() -> client_mod.Client:
        return client_mod.Client(fixtures.client_config(kube_apiserver))

    settings = app_mod.Settings(
        tokens={"t-alice": auth.User("alice")},
        namespace=NS,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}",
        heartbeat_interval=0.2,
    )
    app = app_mod.create_app(settings, factory)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client,
    ):
        yield client


async def wait_for(http: httpx.AsyncClient, name: str, **expected: Any) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        out: dict[str, Any] = (await http.get(f"/api/v1/sessions/{name}", headers=ALICE)).json()
        return out if all(out.get(k) == v for k, v in expected.items()) else None

    return await eventually_async(reached, timeout=15, message=f"{name} reaching {expected}")


async def test_create_hibernate_and_a_connection_wakes_the_session(
    http: httpx.AsyncClient,
) -> None:
    resp = await http.post(
        "/api/v1/sessions", json={"name": "w1", "image": "busybox"}, headers=ALICE
    )
    assert resp.status_code == 202, resp.text
    running = await wait_for(http, "w1", phase="Running")
    assert running["url"] and running["lastReconcileTime"]

    resp = await http.post("/api/v1/sessions/w1/heartbeat", headers=ALICE)
    assert resp.status_code == 204

    async def active() -> bool:
        out = (await http.get("/api/v1/sessions/w1", headers=ALICE)).json()
        return out["lastActivity"] is not None

    await eventually_async(active, timeout=10, message="lastActivity written")

    assert (await http.post("/api/v1/sessions/w1/hibernate", headers=ALICE)).status_code == 202
    await wait_for(http, "w1", phase="Hibernated", stoppedBy="user")

    resp = await http.post("/api/v1/sessions/w1/connections", headers=ALICE)
    assert resp.status_code == 201
    assert resp.json()["woke"] is True
    await wait_for(http, "w1", phase="Running", state="running")
