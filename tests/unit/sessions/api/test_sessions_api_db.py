"""The API database: migrations build exactly the schema the models describe, and the
connection queries."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection as SyncConnection

from pilothouse.operators.sessions.api import db

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _diff(conn: SyncConnection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), db.Base.metadata))


async def test_the_migrations_match_the_models(tmp_path: pathlib.Path) -> None:
    database = db.Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await database.start()
        async with database.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await database.close()


async def test_connections_open_close_and_forget(tmp_path: pathlib.Path) -> None:
    database = db.Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        await database.start()
        a = await database.open_connection("ns", "s1", "alice", "ide", T0)
        b = await database.open_connection("ns", "s1", "alice", None, T0 + timedelta(1))
        await database.open_connection("ns", "s2", "alice", None, T0)
        assert await database.close_connection("ns", "s1", a.id, T0 + timedelta(2))
        assert not await database.close_connection("ns", "s1", a.id, T0 + timedelta(3))
        assert not await database.close_connection("ns", "s2", b.id, T0)
        rows = await database.connections("ns", "s1")
        assert [(r.id, r.client, r.closed_at) for r in rows] == [
            (a.id, "ide", T0 + timedelta(2)),
            (b.id, None, None),
        ]
        await database.forget_session("ns", "s1")
        assert await database.connections("ns", "s1") == []
        assert len(await database.connections("ns", "s2")) == 1
    finally:
        await database.close()
