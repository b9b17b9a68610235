"""The sessions API over ASGI against the embedded API server (simulated one-node cluster,
no controllers): what each endpoint does to the Session and NodeOperation objects, auth,
ownership, validation, heartbeat coalescing, connections and the database migrations."""

from __future__ import annotations

import math
import pathlib
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pilothouse import crd
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import common, nodeoperation, operator_setup
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth
from pilothouse.testing import fixtures
from pilothouse.testing.eventually import eventually_async

NS = "default"
INTERVAL = 0.2
SESSION = operator_setup.CRDS[0].kind_info()
NODEOP = nodeoperation.NodeOperation.kind_info()
ALICE = {"Authorization": "Bearer t-alice"}
BOB = {"Authorization": "Bearer t-bob"}
ROOT = {"Authorization": "Bearer t-root"}
TOKENS = {
    "t-alice": auth.User("alice"),
    "t-bob": auth.User("bob"),
    "t-root": auth.User("root", admin=True),
}
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class CountingClient(client_mod.Client):
    """A client that counts status patches per object, and can refuse creates the way an
    admission webhook does (403 with the webhook's message)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.status_patches: dict[str, int] = {}
        self.deny_creates: str | None = None

    async def patch(self, kind: Any, name: str, patch: Any, **kw: Any) -> Any:
        if kw.get("subresource") == "status":
            self.status_patches[name] = self.status_patches.get(name, 0) + 1
        return await super().patch(kind, name, patch, **kw)

    async def create(self, obj: Any, **kw: Any) -> Any:
        if self.deny_creates is not None:
            raise errors.Forbidden(
                {"reason": "Forbidden", "message": self.deny_creates, "code": 403}, 403
            )
        return await super().create(obj, **kw)


class TickingClock:
    """A wall clock one second later at every call, so each heartbeat has its own time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return T0 + timedelta(seconds=self.calls)

    @property
    def last(self) -> datetime:
        return T0 + timedelta(seconds=self.calls)


class Harness:
    def __init__(self, http: httpx.AsyncClient, kube: CountingClient, clock: TickingClock) -> None:
        self.http = http
        self.kube = kube
        self.clock = clock


@pytest_asyncio.fixture
async def harness(
    kube_apiserver: server_mod.APIServer,
    sessions_client: client_mod.Client,
    tmp_path: pathlib.Path,
) -> AsyncIterator[Harness]:
    await sessions_client.apply(
        crd.definition(nodeoperation.NodeOperation), field_manager="test", force=True
    )
    kube = CountingClient(fixtures.client_config(kube_apiserver))

    async def factory() -> client_mod.Client:
        return kube

    clock = TickingClock()
    settings = app_mod.Settings(
        tokens=TOKENS,
        namespace=NS,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}",
        heartbeat_interval=INTERVAL,
    )
    app = app_mod.create_app(settings, factory, wall_clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as http,
    ):
        yield Harness(http, kube, clock)


async def create(h: Harness, headers: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("image", "busybox")
    return await h.http.post("/api/v1/sessions", json=body, headers=headers)


async def session_obj(client: client_mod.Client, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = await client.get(SESSION, name, NS)
    return obj


async def test_create_answers_202_with_the_location_and_the_session_has_the_user(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    resp = await create(harness, ALICE, name="ws1", idleTimeout="15m")
    assert resp.status_code == 202, resp.text
    assert resp.headers["location"] == "/api/v1/sessions/ws1"
    assert resp.json()["user"] == "alice"
    obj = await session_obj(sessions_client, "ws1")
    assert obj["spec"]["user"] == "alice"
    assert obj["spec"]["idleTimeout"] == "15m"
    assert obj["spec"]["state"] == "running"
    assert obj["metadata"]["labels"][common.LABEL_USER] == "alice"
    # A generated name.
    resp = await create(harness, ALICE)
    assert resp.status_code == 202
    name = resp.json()["name"]
    assert name.startswith("alice-")
    assert (await session_obj(sessions_client, name))["spec"]["user"] == "alice"
    # The same name again.
    assert (await create(harness, ALICE, name="ws1")).status_code == 409


async def test_users_see_only_their_sessions(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    assert (await create(harness, ALICE, name="a1")).status_code == 202
    assert (await create(harness, ALICE, name="a2")).status_code == 202
    assert (await create(harness, BOB, name="b1")).status_code == 202
    # A session whose label lies about its user is not listed either.
    await sessions_client.create(
        {
            "apiVersion": SESSION.api_version,
            "kind": "Session",
            "metadata": {"name": "m1", "namespace": NS, "labels": {common.LABEL_USER: "alice"}},
            "spec": {"user": "mallory", "image": "x"},
        }
    )
    resp = await harness.http.get("/api/v1/sessions", headers=ALICE)
    assert resp.status_code == 200
    assert [s["name"] for s in resp.json()["items"]] == ["a1", "a2"]
    resp = await harness.http.get("/api/v1/sessions", headers=BOB)
    assert [s["name"] for s in resp.json()["items"]] == ["b1"]

    resp = await harness.http.get("/api/v1/sessions/a1", headers=ALICE)
    assert resp.status_code == 200
    out = resp.json()
    assert (out["name"], out["user"], out["state"]) == ("a1", "alice", "running")
    for key in ("phase", "url", "stoppedBy", "lastActivity", "lastReconcileTime"):
        assert key in out
    for path in ("/api/v1/sessions/b1", "/api/v1/sessions/m1", "/api/v1/sessions/nope"):
        assert (await harness.http.get(path, headers=ALICE)).status_code == 404
    assert (
        await harness.http.post("/api/v1/sessions/b1/hibernate", headers=ALICE)
    ).status_code == 404
    assert (await harness.http.delete("/api/v1/sessions/b1", headers=ALICE)).status_code == 404
    assert (
        await harness.http.post("/api/v1/sessions/b1/heartbeat", headers=ALICE)
    ).status_code == 404
    assert (await session_obj(sessions_client, "b1"))["spec"]["state"] == "running"


async def test_status_is_read_from_the_session(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    await create(harness, ALICE, name="st")
    await sessions_client.patch(
        SESSION,
        "st",
        {
            "status": {
                "phase": "Hibernated",
                "stoppedBy": "idle",
                "url": "http://session-st.default.svc:8080",
                "lastReconcileTime": "2026-12-01T12:00:00Z",
            }
        },
        namespace=NS,
        subresource="status",
    )
    out = (await harness.http.get("/api/v1/sessions/st", headers=ALICE)).json()
    assert out["phase"] == "Hibernated"
    assert out["stoppedBy"] == "idle"
    assert out["url"] == "http://session-st.default.svc:8080"
    assert out["lastReconcileTime"] == "2026-12-01T12:00:00Z"


async def test_hibernate_resume_and_delete_change_the_desired_state(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    await create(harness, ALICE, name="s")
    for path, state in [("hibernate", "hibernated"), ("resume", "running")]:
        resp = await harness.http.post(f"/api/v1/sessions/s/{path}", headers=ALICE)
        assert resp.status_code == 202, resp.text
        assert resp.json()["state"] == state
        assert (await session_obj(sessions_client, "s"))["spec"]["state"] == state
    resp = await harness.http.delete("/api/v1/sessions/s", headers=ALICE)
    assert resp.status_code == 202
    assert (await session_obj(sessions_client, "s"))["spec"]["state"] == "terminated"
    # Terminated is final.
    assert (await harness.http.post("/api/v1/sessions/s/resume", headers=ALICE)).status_code == 409


async def test_a_heartbeat_flood_is_coalesced_and_the_latest_time_wins(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    await create(harness, ALICE, name="hb")
    start = time.monotonic()
    for _ in range(200):
        resp = await harness.http.post("/api/v1/sessions/hb/heartbeat", headers=ALICE)
        assert resp.status_code == 204
    latest = fmt(harness.clock.last)

    async def written() -> bool:
        obj = await session_obj(sessions_client, "hb")
        return bool((obj.get("status") or {}).get("lastActivity") == latest)

    await eventually_async(written, timeout=10, message="the latest heartbeat written")
    elapsed = time.monotonic() - start
    writes = harness.kube.status_patches.get("hb", 0)
    assert 1 <= writes <= math.ceil(elapsed / INTERVAL) + 1, (writes, elapsed)
    assert writes < 200


async def test_a_connection_to_a_hibernated_session_sets_the_wake_annotation(
    harness: Harness, sessions_client: client_mod.Client, tmp_path: pathlib.Path
) -> None:
    await create(harness, ALICE, name="running")
    resp = await harness.http.post(
        "/api/v1/sessions/running/connections", json={"client": "browser"}, headers=ALICE
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["woke"] is False
    annotations = (await session_obj(sessions_client, "running"))["metadata"].get("annotations")
    assert common.ANNOTATION_WAKE_REQUESTED_AT not in (annotations or {})
    conn_id = resp.json()["id"]
    assert resp.headers["location"] == f"/api/v1/sessions/running/connections/{conn_id}"

    # Hibernated, as the controller records it: the wake annotation, newer than the
    # hibernation even within the same second.
    await create(harness, ALICE, name="sleepy", state="hibernated")
    hibernated_at = T0 + timedelta(hours=1)
    await sessions_client.patch(
        SESSION,
        "sleepy",
        {"status": {"phase": "Hibernated", "hibernatedAt": fmt(hibernated_at)}},
        namespace=NS,
        subresource="status",
    )
    resp = await harness.http.post("/api/v1/sessions/sleepy/connections", headers=ALICE)
    assert resp.status_code == 201
    assert resp.json()["woke"] is True
    obj = await session_obj(sessions_client, "sleepy")
    wake = obj["metadata"]["annotations"][common.ANNOTATION_WAKE_REQUESTED_AT]
    assert wake == fmt(hibernated_at + timedelta(seconds=1))
    assert obj["spec"]["state"] == "hibernated"  # the controller decides

    # Hibernated by the user, not yet seen by the controller: set running again.
    await create(harness, ALICE, name="drowsy", state="hibernated")
    resp = await harness.http.post("/api/v1/sessions/drowsy/connections", headers=ALICE)
    assert resp.status_code == 201
    assert resp.json()["woke"] is True
    assert (await session_obj(sessions_client, "drowsy"))["spec"]["state"] == "running"

    # Recorded in the database; closing twice is 404 the second time.
    db = sqlite3.connect(tmp_path / "sessions.db")
    try:
        rows = db.execute(
            "SELECT session_name, user, client FROM connections ORDER BY 1"
        ).fetchall()
        assert rows == [
            ("drowsy", "alice", None),
            ("running", "alice", "browser"),
            ("sleepy", "alice", None),
        ]
    finally:
        db.close()
    path = f"/api/v1/sessions/running/connections/{conn_id}"
    assert (await harness.http.delete(path, headers=BOB)).status_code == 404
    assert (await harness.http.delete(path, headers=ALICE)).status_code == 204
    assert (await harness.http.delete(path, headers=ALICE)).status_code == 404


async def test_templates_are_listed(harness: Harness, sessions_client: client_mod.Client) -> None:
    for name, image in [("python", "python:3.12"), ("jupyter", "jupyter/base")]:
        await sessions_client.create(
            {
                "apiVersion": SESSION.api_version,
                "kind": "SessionTemplate",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"image": image, "displayName": name.title()},
            }
        )
    resp = await harness.http.get("/api/v1/templates", headers=BOB)
    assert resp.status_code == 200
    assert [(t["name"], t["image"], t["displayName"]) for t in resp.json()] == [
        ("jupyter", "jupyter/base", "Jupyter"),
        ("python", "python:3.12", "Python"),
    ]


async def test_nodes_are_for_admins_and_operations_create_node_operations(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    assert (await harness.http.get("/api/v1/nodes", headers=ALICE)).status_code == 403
    resp = await harness.http.get("/api/v1/nodes", headers=ROOT)
    assert resp.status_code == 200
    nodes = resp.json()
    assert len(nodes) == 1
    assert nodes[0]["schedulable"] is True
    node = nodes[0]["name"]

    path = f"/api/v1/nodes/{node}/operations"
    body = {"operation": "cordon"}
    assert (await harness.http.post(path, json=body, headers=ALICE)).status_code == 403
    resp = await harness.http.post(path, json=body, headers=ROOT)
    assert resp.status_code == 202, resp.text
    op_name = resp.json()["name"]
    assert resp.headers["location"] == f"{path}/{op_name}"
    op = await sessions_client.get(NODEOP, op_name)
    assert (op["spec"]["node"], op["spec"]["operation"]) == (node, "cordon")
    got = await harness.http.get(resp.headers["location"], headers=ROOT)
    assert got.status_code == 200
    assert got.json()["operation"] == "cordon"

    resp = await harness.http.post("/api/v1/nodes/no-such-node/operations", json=body, headers=ROOT)
    assert resp.status_code == 404
    # Refused by the CRD's rules (a label operation needs labels): the server's 422.
    resp = await harness.http.post(path, json={"operation": "label"}, headers=ROOT)
    assert resp.status_code == 422
    assert "needs labels" in resp.text


@pytest.mark.parametrize(
    "body",
    [{"name": "Bad_Name"}, {"idleTimeout": "later"}, {"user": "root"}, {"image": 3}],
)
async def test_invalid_input_is_422(harness: Harness, body: dict[str, Any]) -> None:
    resp = await harness.http.post("/api/v1/sessions", json=body, headers=ALICE)
    assert resp.status_code == 422


async def test_auth_is_required(harness: Harness) -> None:
    assert (await harness.http.get("/healthz")).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await harness.http.get("/api/v1/sessions", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        assert (await create(harness, headers)).status_code == 401


async def test_an_admission_denial_is_403_with_its_message(
    harness: Harness, sessions_client: client_mod.Client
) -> None:
    message = 'admission webhook "quota" denied the request: sessions 3 of 3 used'
    harness.kube.deny_creates = message
    resp = await create(harness, ALICE, name="over")
    assert resp.status_code == 403
    assert resp.json()["detail"] == message
    with pytest.raises(errors.NotFound):
        await session_obj(sessions_client, "over")


async def test_migrations_are_applied_on_a_fresh_database(
    kube_apiserver: server_mod.APIServer, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "fresh.db"
    assert not path.exists()

    async def factory() -> client_mod.Client:
        return client_mod.Client(fixtures.client_config(kube_apiserver))

    settings = app_mod.Settings(database_url=f"sqlite+aiosqlite:///{path}")
    app = app_mod.create_app(settings, factory)
    for _ in range(2):  # the second start finds the schema current
        async with app.router.lifespan_context(app):
            pass
        db = sqlite3.connect(path)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = db.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            db.close()
        assert {"connections", "alembic_version"} <= tables
        assert version == [("0001",)]
