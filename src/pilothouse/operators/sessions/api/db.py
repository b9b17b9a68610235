"""The API's own database: connection records, through SQLAlchemy 2 (async).

Kubernetes holds everything about a session; the database holds only what is the API's
business and too chatty for the cluster: which connections a session has had (opened,
closed, by what client).

Two backends, the same models and migrations (:func:`engine_url` checks a URL):

- SQLite through aiosqlite (``sqlite+aiosqlite:///path``), the default: one file, no
  server, for a single API process.
- PostgreSQL through asyncpg (``postgresql+asyncpg://user:password@host/db``), for several
  API replicas sharing one database. It is tested against a real server
  (:mod:`pilothouse.testing.postgres`). Its pool checks a connection before handing it out
  (``pool_pre_ping``), so a restarted server or a connection dropped by a proxy costs a
  reconnect rather than a failed request; and migrations hold an advisory lock, so replicas
  starting together do not race to create the same table.

A URL without a driver (``sqlite:///path``, ``postgresql://...``) gets the async driver
above; any other backend or driver is a :class:`UnsupportedDatabase` naming what works.

Times are stored in UTC (an aware datetime is converted; a naive one is taken as UTC) and
come back aware, in UTC, from either backend: PostgreSQL keeps ``timestamptz``, SQLite
keeps the UTC wall time as text (which also makes its text order the time order).

The schema is owned by Alembic migrations (``migrations/``), applied by :func:`migrate` at
startup, never by ``create_all``: a database written by an older version is upgraded in
place, and the migration history is the one description of the schema. Migrations run on
a connection of the application's own engine (Alembic's "connection sharing" recipe), so
they need no second event loop and see the same database the app uses -- an in-memory
SQLite database included.
"""

from __future__ import annotations

import importlib.util
import pathlib
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Index, String, delete, exc, select, text, update
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "DRIVERS",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "Base",
    "Connection",
    "Database",
    "UnsupportedDatabase",
    "alembic_config",
    "engine_url",
    "migrate",
]

#: The Alembic script directory.
MIGRATIONS = pathlib.Path(__file__).parent / "migrations"


#: Backend -> the async driver used for it (and the module that driver needs).
DRIVERS = {"sqlite": ("aiosqlite", "aiosqlite"), "postgresql": ("asyncpg", "asyncpg")}
#: The key of the PostgreSQL advisory lock held while migrating. Any constant will do; an
#: arbitrary one ("5E55 1075" reads "sessions") rather than 0 or 1, which another
#: application sharing the server might use too.
MIGRATION_LOCK = 0x5E55_1075


class UnsupportedDatabase(ValueError):
    """A database URL this API cannot use: an unsupported backend or driver, an
    unparsable URL, or a driver that is not installed. The message says what works."""


def engine_url(url: str) -> URL:
    """``url`` checked and completed: a supported backend with its async driver.

    ``sqlite`` and ``postgresql`` without a driver get theirs (:data:`DRIVERS`); any other
    backend or driver, or a driver module that is not importable, is
    :class:`UnsupportedDatabase`. Error messages never include the URL's password.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise UnsupportedDatabase(
            "not a database URL: use sqlite+aiosqlite:///PATH or "
            "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None  # SQLAlchemy's error could quote the URL, password included
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in DRIVERS:
        raise UnsupportedDatabase(
            f"unsupported database {parsed.drivername!r}: the sessions API supports "
            "SQLite (sqlite+aiosqlite:///PATH) and PostgreSQL "
            "(postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE)"
        )
    wanted, module = DRIVERS[backend]
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+{wanted}")
    elif driver != wanted:
        raise UnsupportedDatabase(
            f"unsupported driver {parsed.drivername!r}: use {backend}+{wanted} "
            "(the API needs an asyncio driver)"
        )
    if importlib.util.find_spec(module) is None:
        raise UnsupportedDatabase(
            f"the {backend} driver {module!r} is not installed: pip install {module}"
        )
    return parsed


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql":
        # A server restart or an idle connection cut by a proxy would otherwise fail the
        # next request that draws that connection from the pool.
        return {"pool_pre_ping": True}
    return {}


class Base(DeclarativeBase):
    """The declarative base of the API's models (its metadata is the migrations' target)."""


class Connection(Base):
    """One connection to a session: open while ``closed_at`` is null; kept afterwards as
    the session's connection log."""

    __tablename__ = "connections"
    __table_args__ = (Index("ix_connections_session", "namespace", "session_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253))
    session_name: Mapped[str] = mapped_column(String(253))
    user: Mapped[str] = mapped_column(String(253))
    client: Mapped[str | None] = mapped_column(String(255), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for :data:`MIGRATIONS` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # Through attributes, not set_main_option: a URL's %-escapes (passwords) would be
        # taken for ConfigParser interpolation.
        cfg.attributes["url"] = url
    return cfg


def _upgrade(conn: SyncConnection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default), in one transaction.

    On PostgreSQL the transaction first takes an advisory lock (:data:`MIGRATION_LOCK`,
    released at commit), so API replicas starting at once migrate one after the other: the
    later ones find the schema current. (An SQLite file serves one API process.)
    """
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_upgrade, revision)


def _utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive one is taken to be UTC already.

    Stored times are always UTC: SQLite keeps the wall time without its offset, and
    asyncpg would take a naive datetime for the machine's local time.
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """The engine and the few queries the API needs.

    ``url`` is checked by :func:`engine_url` (:class:`UnsupportedDatabase` at once, before
    any connection is made). No connection is opened until :meth:`start`. Every method is
    safe to call concurrently: each runs in a session and transaction of its own.
    ``backend`` is ``"sqlite"`` or ``"postgresql"``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = engine_url(url)
        self.backend = parsed.get_backend_name()
        self.engine = _create_async_engine(parsed, **_engine_options(parsed))
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def start(self) -> None:
        """Apply the migrations (:func:`migrate`); the first connection to the database."""
        await migrate(self.engine)

    async def close(self) -> None:
        """Close the pool's connections (the object is unusable afterwards)."""
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        """A new ORM session (objects stay loaded after commit)."""
        return self._sessions()

    async def open_connection(
        self, namespace: str, session_name: str, user: str, client: str | None, now: datetime
    ) -> Connection:
        """Record a new open connection opened at ``now`` (stored in UTC); the row, with
        its generated ``id``."""
        row = Connection(
            id=str(uuid.uuid4()),
            namespace=namespace,
            session_name=session_name,
            user=user,
            client=client,
            opened_at=_utc(now),
        )
        async with self.session() as db, db.begin():
            db.add(row)
        return row

    async def close_connection(
        self, namespace: str, session_name: str, conn_id: str, now: datetime
    ) -> bool:
        """Mark an open connection closed; False when there is no such open connection."""
        async with self.session() as db, db.begin():
            result = await db.execute(
                update(Connection)
                .where(
                    Connection.id == conn_id,
                    Connection.namespace == namespace,
                    Connection.session_name == session_name,
                    Connection.closed_at.is_(None),
                )
                .values(closed_at=_utc(now))
            )
            # An UPDATE's result is a CursorResult; both drivers report matched rows.
            return cast(CursorResult[Any], result).rowcount > 0

    async def connections(self, namespace: str, session_name: str) -> list[Connection]:
        """The session's connections, oldest first; times aware, in UTC."""
        async with self.session() as db:
            rows = await db.scalars(
                select(Connection)
                .where(Connection.namespace == namespace, Connection.session_name == session_name)
                .order_by(Connection.opened_at)
            )
            out = list(rows)
        for row in out:
            # SQLite gives back naive datetimes (UTC, as stored); PostgreSQL aware ones.
            row.opened_at = _utc(row.opened_at)
            if row.closed_at is not None:
                row.closed_at = _utc(row.closed_at)
        return out

    async def forget_session(self, namespace: str, session_name: str) -> int:
        """Delete a session's records (for the finalizer of deleted sessions), in one
        DELETE statement; how many there were."""
        async with self.session() as db, db.begin():
            result = await db.execute(
                delete(Connection).where(
                    Connection.namespace == namespace, Connection.session_name == session_name
                )
            )
            return cast(CursorResult[Any], result).rowcount
