"""Sessions API database fixtures: one real PostgreSQL server for the whole test run
(:mod:`pilothouse.testing.postgres`, started the first time a test asks for it), a fresh
database on it per test, and ``database_url``, which runs a test once on SQLite and once
on PostgreSQL.

A test gets its own database rather than its own server: creating one takes milliseconds,
starting a server about half a second. Each database is dropped after its test (with
``FORCE``, so a connection the test leaked cannot keep it alive)."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from pilothouse.testing import postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """The run's PostgreSQL server on 127.0.0.1, stopped and deleted at the end."""
    with postgres.running_postgres() as server:
        yield server


@pytest_asyncio.fixture
async def postgres_url(postgres_server: postgres.PostgresServer) -> AsyncIterator[str]:
    """The URL (``postgresql+asyncpg://``) of a fresh, empty database on the run's server."""
    url = await postgres_server.create_database()
    try:
        yield url
    finally:
        database = make_url(url).database
        assert database is not None
        await postgres_server.drop_database(database)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on: each test using it runs on both."""
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """An empty database of ``backend``: an SQLite file in ``tmp_path``, or a fresh
    PostgreSQL database (the server is only started when a test needs it)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    # Looked up here, not a parameter: SQLite runs neither start the server nor need it.
    url: str = request.getfixturevalue("postgres_url")
    return url
