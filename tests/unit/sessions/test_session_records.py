"""The record store the Session finalizer cleans: configured from the environment, with
clear errors for unusable URLs (never echoing a password), and a database on which the
API never ran its migrations holding no records to clean."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime

import pytest

from pilothouse.operators.sessions import records
from pilothouse.operators.sessions.api import db


def test_no_url_means_no_store() -> None:
    assert records.from_environment({}) is None
    assert records.from_environment({records.ENV_DATABASE_URL: "  "}) is None


async def test_a_url_gives_a_database_store(tmp_path: pathlib.Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    store = records.from_environment({records.ENV_DATABASE_URL: url})
    assert isinstance(store, records.DatabaseRecords)
    await store.close()


@pytest.mark.parametrize(
    "url", ["not a url", "nosuchdialect://u:s3cret@127.0.0.1/db", "sqlite+nodriver:///x.db"]
)
def test_an_unusable_url_is_a_clear_error_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match=records.ENV_DATABASE_URL) as info:
        records.from_environment({records.ENV_DATABASE_URL: url})
    assert "s3cret" not in str(info.value)


async def test_forgetting_on_a_database_without_the_schema_succeeds(
    tmp_path: pathlib.Path,
) -> None:
    store = records.DatabaseRecords(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        await store.forget_session("default", "s")  # no table: nothing to forget
    finally:
        await store.close()


async def test_forgetting_deletes_the_sessions_rows_once_the_schema_exists(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'late.db'}"
    store = records.DatabaseRecords(url)
    database = db.Database(url)
    try:
        await store.forget_session("default", "s")  # before the API's migrations
        await database.start()
        await database.open_connection("default", "s", "alice", None, datetime.now(UTC))
        await store.forget_session("default", "s")
        assert await database.connections("default", "s") == []
    finally:
        await store.close()
        await database.close()
