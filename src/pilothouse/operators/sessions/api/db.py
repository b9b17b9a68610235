"""The API's own database: connection records, through SQLAlchemy 2 (async).

Kubernetes holds everything about a session; the database holds only what is the API's
business and too chatty for the cluster: which connections a session has had (opened,
closed, by what client). SQLite (``sqlite+aiosqlite:///path``) is the default;
PostgreSQL (``postgresql+asyncpg://...``) works with the same models.

The schema is owned by Alembic migrations (``migrations/``), applied by :func:`migrate` at
startup, never by ``create_all``: a database written by an older version is upgraded in
place, and the migration history is the one description of the schema. Migrations run on
a connection of the application's own engine (Alembic's "connection sharing" recipe), so
they need no second event loop and see the same database the app uses -- an in-memory
SQLite database included.
"""

from __future__ import annotations

import pathlib
import uuid
from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Index, String, select, update
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "MIGRATIONS",
    "Base",
    "Connection",
    "Database",
    "alembic_config",
    "migrate",
]

#: The Alembic script directory.
MIGRATIONS = pathlib.Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


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
    """Bring the database to ``revision`` (the newest by default)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; every time stored here is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Database:
    """The engine and the few queries the API needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _create_async_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def start(self) -> None:
        await migrate(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        return self._sessions()

    async def open_connection(
        self, namespace: str, session_name: str, user: str, client: str | None, now: datetime
    ) -> Connection:
        row = Connection(
            id=str(uuid.uuid4()),
            namespace=namespace,
            session_name=session_name,
            user=user,
            client=client,
            opened_at=now,
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
                .values(closed_at=now)
            )
            return bool(getattr(result, "rowcount", 0))

    async def connections(self, namespace: str, session_name: str) -> list[Connection]:
        """The session's connections, oldest first."""
        async with self.session() as db:
            rows = await db.scalars(
                select(Connection)
                .where(Connection.namespace == namespace, Connection.session_name == session_name)
                .order_by(Connection.opened_at)
            )
            out = list(rows)
        for row in out:
            row.opened_at = _aware(row.opened_at)
            if row.closed_at is not None:
                row.closed_at = _aware(row.closed_at)
        return out

    async def forget_session(self, namespace: str, session_name: str) -> None:
        """Delete a session's records (for the finalizer of deleted sessions)."""
        async with self.session() as db, db.begin():
            rows = await db.scalars(
                select(Connection).where(
                    Connection.namespace == namespace, Connection.session_name == session_name
                )
            )
            for row in rows:
                await db.delete(row)
