"""The sessions API database on a real PostgreSQL server (the run's throwaway server, a
fresh database per test; see this directory's conftest) and, for the queries, on SQLite
too: the migrations (applied, idempotent, reversible, safe to run from two replicas at
once), every :class:`~pilothouse.operators.sessions.api.db.Database` method on both
backends, time zones, concurrency, URL checking, and the connection routes end to end
with the app on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection as SyncConnection

from pilothouse import crd
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import nodeoperation, operator_setup
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth, db
from pilothouse.testing import fixtures, postgres

NS = "default"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SESSION = operator_setup.CRDS[0].kind_info()
ALICE = {"Authorization": "Bearer t-alice"}
BOB = {"Authorization": "Bearer t-bob"}
TOKENS = {"t-alice": auth.User("alice"), "t-bob": auth.User("bob")}


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[db.Database]:
    """A migrated :class:`db.Database` on SQLite, then on PostgreSQL."""
    database = db.Database(database_url)
    try:
        await database.start()
        yield database
    finally:
        await database.close()


def _schema(conn: SyncConnection) -> dict[str, Any]:
    inspector = sqlalchemy.inspect(conn)
    tables = set(inspector.get_table_names())
    indexes = {}
    if "connections" in tables:
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("connections")}
    versions = []
    if "alembic_version" in tables:
        versions = [r[0] for r in conn.execute(sqlalchemy.text("SELECT * FROM alembic_version"))]
    return {"tables": tables, "indexes": indexes, "versions": versions}


def _diff(conn: SyncConnection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), db.Base.metadata))


def _downgrade(conn: SyncConnection, revision: str) -> None:
    cfg = db.alembic_config()
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, revision)


async def schema(database: db.Database) -> dict[str, Any]:
    async with database.engine.connect() as conn:
        return await conn.run_sync(_schema)


HEAD = {
    "tables": {"connections", "alembic_version"},
    "indexes": {"ix_connections_session": ["namespace", "session_name"]},
    "versions": ["0001"],
}


async def test_the_migrations_build_the_models_schema_on_postgresql(postgres_url: str) -> None:
    database = db.Database(postgres_url)
    try:
        assert await schema(database) == {"tables": set(), "indexes": {}, "versions": []}
        await database.start()
        assert await schema(database) == HEAD
        async with database.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            # Real PostgreSQL types, not text: times are timestamptz.
            kind = await conn.scalar(
                sqlalchemy.text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'connections' AND column_name = 'opened_at'"
                )
            )
        assert kind == "timestamp with time zone"

        # Again: a no-op that keeps the data.
        row = await database.open_connection("ns", "s", "alice", None, T0)
        await database.start()
        assert await schema(database) == HEAD
        assert [r.id for r in await database.connections("ns", "s")] == [row.id]

        # Down to nothing and up again.
        async with database.engine.begin() as conn:
            await conn.run_sync(_downgrade, "base")
        assert await schema(database) == {
            "tables": {"alembic_version"},
            "indexes": {},
            "versions": [],
        }
        await database.start()
        assert await schema(database) == HEAD
        assert await database.connections("ns", "s") == []
    finally:
        await database.close()


async def test_replicas_starting_together_migrate_one_after_the_other(postgres_url: str) -> None:
    # Without the advisory lock several would create the table and all but one fail.
    replicas = [db.Database(postgres_url) for _ in range(4)]
    try:
        async with asyncio.TaskGroup() as group:  # a failure cancels the others
            for replica in replicas:
                group.create_task(replica.start())
        assert await schema(replicas[0]) == HEAD
    finally:
        await asyncio.gather(*(r.close() for r in replicas))


async def test_every_database_method(database: db.Database, backend: str) -> None:
    assert database.backend == backend
    a = await database.open_connection("ns", "s1", "alice", "ide", T0)
    b = await database.open_connection("ns", "s1", "alice", None, T0 + timedelta(1))
    c = await database.open_connection("ns", "s2", "alice", None, T0)
    assert len({a.id, b.id, c.id}) == 3
    assert (a.namespace, a.session_name, a.user, a.client) == ("ns", "s1", "alice", "ide")
    assert a.opened_at == T0 and a.closed_at is None

    assert await database.close_connection("ns", "s1", a.id, T0 + timedelta(2))
    # Closed already; another session's; unknown.
    assert not await database.close_connection("ns", "s1", a.id, T0 + timedelta(3))
    assert not await database.close_connection("ns", "s2", b.id, T0)
    assert not await database.close_connection("ns", "s1", "no-such-id", T0)

    rows = await database.connections("ns", "s1")
    assert [(r.id, r.user, r.client, r.opened_at, r.closed_at) for r in rows] == [
        (a.id, "alice", "ide", T0, T0 + timedelta(2)),
        (b.id, "alice", None, T0 + timedelta(1), None),
    ]
    assert await database.connections("ns", "nothing") == []

    assert await database.forget_session("ns", "s1") == 2
    assert await database.connections("ns", "s1") == []
    assert [r.id for r in await database.connections("ns", "s2")] == [c.id]
    assert await database.forget_session("ns", "s1") == 0


async def test_times_come_back_aware_in_utc(database: db.Database) -> None:
    # 12:00:00.123456 UTC, written in UTC+05:30; a naive time is taken as UTC.
    india = timezone(timedelta(hours=5, minutes=30))
    precise = T0 + timedelta(microseconds=123456)
    row = await database.open_connection("ns", "s", "alice", None, precise.astimezone(india))
    # Earlier by one second but later on the wall clock of its zone: the order is the
    # instants', not the wall times'.
    west = timezone(timedelta(hours=-8))
    earlier = await database.open_connection(
        "ns", "s", "alice", None, (precise - timedelta(seconds=1)).astimezone(west)
    )
    naive = await database.open_connection(
        "ns", "s", "alice", None, (precise + timedelta(hours=1)).replace(tzinfo=None)
    )
    assert await database.close_connection(
        "ns", "s", row.id, (precise + timedelta(minutes=5)).astimezone(india)
    )
    rows = await database.connections("ns", "s")
    assert [r.id for r in rows] == [earlier.id, row.id, naive.id]
    for r in rows:
        assert r.opened_at.utcoffset() == timedelta(0)
    assert rows[1].opened_at == precise
    assert rows[1].opened_at.microsecond == 123456
    assert rows[1].closed_at == precise + timedelta(minutes=5)
    assert rows[1].closed_at.utcoffset() == timedelta(0)
    assert rows[2].opened_at == precise + timedelta(hours=1)


async def test_many_concurrent_opens_and_closes_stay_consistent(database: db.Database) -> None:
    n = 24  # more than the pool holds (15), so requests queue for connections
    opened = await asyncio.gather(
        *(
            database.open_connection("ns", f"s{i % 4}", "alice", f"c{i}", T0 + timedelta(i))
            for i in range(n)
        )
    )
    assert len({r.id for r in opened}) == n
    # Every connection closed twice at once: exactly one of each pair wins.
    closes = await asyncio.gather(
        *(
            database.close_connection("ns", r.session_name, r.id, T0 + timedelta(days=100))
            for r in opened
            for _ in range(2)
        )
    )
    assert sum(closes) == n
    for i in range(4):
        rows = await database.connections("ns", f"s{i}")
        assert [r.client for r in rows] == [f"c{j}" for j in range(i, n, 4)]
        assert all(r.closed_at == T0 + timedelta(days=100) for r in rows)


async def test_forget_session_deletes_only_that_sessions_rows(database: db.Database) -> None:
    keep = [
        await database.open_connection("ns", "s2", "alice", None, T0),
        await database.open_connection("other", "s1", "alice", None, T0),
        await database.open_connection("ns", "s10", "alice", None, T0),
    ]
    for i in range(3):
        row = await database.open_connection("ns", "s1", "alice", None, T0 + timedelta(i))
        if i == 0:
            await database.close_connection("ns", "s1", row.id, T0 + timedelta(5))
    assert await database.forget_session("ns", "s1") == 3
    assert await database.connections("ns", "s1") == []
    for row in keep:
        assert [r.id for r in await database.connections(row.namespace, row.session_name)] == [
            row.id
        ]


async def test_a_dropped_connection_costs_a_reconnect_not_a_request(
    postgres_server: postgres.PostgresServer, postgres_url: str
) -> None:
    database = db.Database(postgres_url)
    try:
        await database.start()
        await database.open_connection("ns", "s", "alice", None, T0)
        # The server ends every session of the database (as a restart or a proxy would);
        # the pool's connections are dead, and pool_pre_ping finds out before using one.
        name = sqlalchemy.make_url(postgres_url).database
        await postgres_server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        await database.open_connection("ns", "s", "alice", None, T0 + timedelta(1))
        assert len(await database.connections("ns", "s")) == 2
    finally:
        await database.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+aiomysql://u@127.0.0.1/db", "unsupported database 'mysql+aiomysql'"),
        ("postgresql+psycopg2://u@127.0.0.1/db", "use postgresql+asyncpg"),
        ("sqlite+pysqlite:///x.db", "use sqlite+aiosqlite"),
        ("not a url", "not a database URL"),
    ],
)
def test_unsupported_urls_are_refused_with_what_works(url: str, message: str) -> None:
    with pytest.raises(db.UnsupportedDatabase, match=re.escape(message)) as caught:
        db.Database(url)
    assert "sqlite+aiosqlite" in str(caught.value) or "postgresql+asyncpg" in str(caught.value)


def test_a_url_without_a_driver_gets_the_async_one() -> None:
    assert db.engine_url("postgresql://u:secret@127.0.0.1/db").drivername == "postgresql+asyncpg"
    assert db.engine_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"


def test_a_missing_driver_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(db.DRIVERS, "postgresql", ("asyncpg", "no_such_module_here"))
    with pytest.raises(db.UnsupportedDatabase, match="'no_such_module_here' is not installed"):
        db.engine_url("postgresql+asyncpg://u:secret@127.0.0.1/db")


def test_errors_never_show_the_password() -> None:
    with pytest.raises(db.UnsupportedDatabase) as caught:
        db.engine_url("mysql+aiomysql://u:s3cr3t@127.0.0.1/db")
    assert "s3cr3t" not in str(caught.value)


# -- the API on PostgreSQL ---------------------------------------------------------------


@pytest_asyncio.fixture
async def api_on_postgres(
    kube_apiserver: server_mod.APIServer,
    sessions_client: client_mod.Client,
    postgres_url: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """The sessions API (as :mod:`test_sessions_api_routes` builds it) with its database on
    the run's PostgreSQL server."""
    await sessions_client.apply(
        crd.definition(nodeoperation.NodeOperation), field_manager="test", force=True
    )

    async def factory() -> client_mod.Client:
        return client_mod.Client(fixtures.client_config(kube_apiserver))

    settings = app_mod.Settings(
        tokens=TOKENS, namespace=NS, database_url=postgres_url, heartbeat_interval=0.2
    )
    app = app_mod.create_app(settings, factory)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as http,
    ):
        yield http


async def test_the_connection_routes_on_postgresql(
    api_on_postgres: httpx.AsyncClient, postgres_url: str
) -> None:
    http = api_on_postgres
    for name in ("ws1", "ws2"):
        resp = await http.post(
            "/api/v1/sessions", json={"name": name, "image": "busybox"}, headers=ALICE
        )
        assert resp.status_code == 202, resp.text
    ids = []
    for client in ("browser", None, "ide"):
        body = {"client": client} if client else None
        resp = await http.post("/api/v1/sessions/ws1/connections", json=body, headers=ALICE)
        assert resp.status_code == 201, resp.text
        assert resp.json()["client"] == client
        assert resp.headers["location"] == f"/api/v1/sessions/ws1/connections/{resp.json()['id']}"
        ids.append(resp.json()["id"])
    resp = await http.post("/api/v1/sessions/ws2/connections", headers=ALICE)
    assert resp.status_code == 201
    # Too long a client name is refused before it reaches the database's String(255).
    resp = await http.post(
        "/api/v1/sessions/ws1/connections", json={"client": "x" * 256}, headers=ALICE
    )
    assert resp.status_code == 422

    path = f"/api/v1/sessions/ws1/connections/{ids[0]}"
    assert (await http.delete(path, headers=BOB)).status_code == 404
    assert (await http.delete(path, headers=ALICE)).status_code == 204
    assert (await http.delete(path, headers=ALICE)).status_code == 404
    wrong_session = f"/api/v1/sessions/ws2/connections/{ids[1]}"
    assert (await http.delete(wrong_session, headers=ALICE)).status_code == 404

    # What the API wrote, read back through a database object of our own.
    database = db.Database(postgres_url)
    try:
        rows = await database.connections(NS, "ws1")
        assert [(r.id, r.user, r.client) for r in rows] == [
            (ids[0], "alice", "browser"),
            (ids[1], "alice", None),
            (ids[2], "alice", "ide"),
        ]
        assert rows[0].closed_at is not None and rows[0].closed_at.utcoffset() == timedelta(0)
        assert [r.closed_at for r in rows[1:]] == [None, None]
        assert len(await database.connections(NS, "ws2")) == 1
    finally:
        await database.close()
