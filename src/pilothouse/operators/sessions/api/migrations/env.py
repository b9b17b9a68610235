"""Alembic environment of the sessions API database.

Two ways in: the application passes its own connection in ``config.attributes
["connection"]`` (:func:`pilothouse.operators.sessions.api.db.migrate`), or the ``alembic``
command line gives a URL (``config.attributes["url"]`` or ``sqlalchemy.url``), for which an
async engine is made and run on a fresh event loop.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from pilothouse.operators.sessions.api import db

config = context.config
target_metadata = db.Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_engine(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or a URL")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_with_engine(url))


_main()
