"""The sessions API's records of a Session, and the finalizer that deletes them with it.

The sessions API keeps a little about each session in its own database (the connection
log, :mod:`.api.db`). When a Session is deleted those rows must go too, and only the
controller sees every deletion -- a ``kubectl delete`` never passes through the API. So
the lifecycle controller puts :data:`FINALIZER` on each Session and, when the Session is
being deleted, calls :meth:`RecordStore.forget_session` before removing it (the runtime's
:func:`~pilothouse.runtime.finalizer.finalize` does the bookkeeping).

Configuration: the operator finds the API's database in the environment variable
:data:`ENV_DATABASE_URL` (the same SQLAlchemy URL the API is given, e.g.
``postgresql+asyncpg://…`` or ``sqlite+aiosqlite:///…``). Without it there is nothing
the controller could clean, so it adds no finalizer (:func:`from_environment` returns
None), and removes one left from an earlier configuration rather than blocking the
deletion forever.

Guarantees and caveats:

* Cleanup is idempotent (a DELETE by namespace and name), so the runtime may repeat it
  after a crash between the cleanup and the finalizer's removal.
* While the database is unreachable the cleanup fails, the reconcile is retried with
  backoff, and the Session stays ``Terminating``: records are never orphaned silently.
* The controller never changes the schema (that is the API's migrations' job): a
  database on which the API has not yet created its tables holds no records, and
  cleanup succeeds at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import sqlalchemy

from pilothouse.api import kinds
from pilothouse.operators.sessions.api import db
from pilothouse.runtime import finalizer
from pilothouse.runtime import reconcile as reconcile_mod

__all__ = [
    "ENV_DATABASE_URL",
    "FINALIZER",
    "DatabaseRecords",
    "RecordStore",
    "finalize",
    "from_environment",
]

log = logging.getLogger(__name__)

#: The finalizer the lifecycle controller keeps on every Session while records may exist.
FINALIZER = "sessions.pilothouse.dev/api-records"

#: The environment variable naming the sessions API's database for the operator.
ENV_DATABASE_URL = "PILOTHOUSE_SESSIONS_DATABASE_URL"


class RecordStore(Protocol):
    """Where the API's records of sessions live, as the controller sees it."""

    async def forget_session(self, namespace: str, name: str) -> None:
        """Delete every record of the session; succeed when there are none."""
        ...

    async def close(self) -> None:
        """Release connections (at manager shutdown)."""
        ...


class DatabaseRecords:
    """:class:`RecordStore` over the sessions API's SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.database = db.Database(url)
        self._schema_seen = False

    async def _has_schema(self) -> bool:
        if not self._schema_seen:
            async with self.database.engine.connect() as conn:
                self._schema_seen = await conn.run_sync(
                    lambda sync: sqlalchemy.inspect(sync).has_table(db.Connection.__tablename__)
                )
        return self._schema_seen

    async def forget_session(self, namespace: str, name: str) -> None:
        if not await self._has_schema():
            return  # the API never ran its migrations here: there can be no records
        await self.database.forget_session(namespace, name)
        log.debug("forgot the API records of session %s/%s", namespace, name)

    async def close(self) -> None:
        await self.database.close()


def from_environment(env: Mapping[str, str] | None = None) -> DatabaseRecords | None:
    """The record store named by :data:`ENV_DATABASE_URL`, or None when it is unset.

    Raises ValueError for a URL SQLAlchemy cannot use (a typo should stop the manager at
    start-up, not surface at the first deletion).
    """
    url = (os.environ if env is None else env).get(ENV_DATABASE_URL, "").strip()
    if not url:
        return None
    try:
        return DatabaseRecords(url)
    except (ValueError, sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as exc:
        # The URL is not repeated: it may carry a password.
        raise ValueError(f"{ENV_DATABASE_URL}: {exc}") from exc


Obj = dict[str, Any]
Live = Callable[[Obj], Awaitable[reconcile_mod.Result | None]]


async def finalize(
    client: Any, kind: kinds.Kind, obj: Obj, store: RecordStore | None, live: Live
) -> reconcile_mod.Result | None:
    """Reconcile Session ``obj`` under :data:`FINALIZER`: ``live(obj)`` while it exists,
    ``store.forget_session`` once it is being deleted (then the finalizer goes).

    Without a store no finalizer is added, and one left by an earlier configuration is
    removed from a terminating Session (with a warning) instead of holding it forever.
    ``live`` is still called for a terminating Session and must leave it alone.
    """
    meta = obj["metadata"]
    if store is not None:

        async def cleanup(current: Obj) -> reconcile_mod.Result | None:
            await store.forget_session(meta.get("namespace") or "", meta["name"])
            return None

        return await finalizer.finalize(client, kind, obj, FINALIZER, live, cleanup)
    if finalizer.has_finalizer(obj, FINALIZER) and finalizer.is_deleting(obj):
        log.warning(
            "session %s/%s: removing %s; no %s is configured, so its API records stay",
            meta.get("namespace"),
            meta["name"],
            FINALIZER,
            ENV_DATABASE_URL,
        )
        await finalizer.finalize(client, kind, obj, FINALIZER, live, _nothing)
    return await live(obj)


async def _nothing(obj: Obj) -> reconcile_mod.Result | None:
    return None
