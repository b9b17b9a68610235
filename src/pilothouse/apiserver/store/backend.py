"""Durability backends for :class:`~pilothouse.apiserver.store.store.Store`.

The guarantee (also stated in ``docs/durability.md``): a write is acknowledged to the client
only after its transaction has committed to SQLite in WAL mode. With ``synchronous=NORMAL``
(the default) a committed transaction survives the server process being killed at any
instant, SIGKILL included, because the WAL frames are already in the operating system's page
cache; with ``fsync=True`` (``synchronous=FULL``) it also survives power loss, at the cost of
an ``fsync`` per group commit.

Writes are group-committed: every write made while a commit is in flight joins the next
transaction, so throughput grows with concurrency instead of paying one commit per write.
Commits run on one dedicated thread so the event loop keeps serving requests meanwhile.

Deleted objects stay behind as tombstones (``deleted = 1``) until compaction, so that after a
restart a watch can resume from a resourceVersion older than the process: the rows changed
since then become the events it missed (intermediate versions of an object are collapsed into
its latest state, which is what etcd compaction does too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Row:
    """One persisted object version (or tombstone)."""

    group_resource: str
    namespace: str
    name: str
    rv: int
    created_rv: int
    deleted: bool
    raw: bytes


@dataclass(frozen=True)
class Snapshot:
    revision: int
    compacted: int
    rows: list[Row]


class Backend(Protocol):
    """Where committed state lives."""

    def load(self) -> Snapshot: ...

    async def commit(self, rows: Sequence[Row], revision: int) -> None:
        """Durably write ``rows`` (latest state per key) and the new global revision."""

    def changes_since(self, group_resource: str, rv: int) -> list[Row] | None:
        """Rows of ``group_resource`` changed after ``rv`` (tombstones included), oldest
        first, or None if ``rv`` is older than what the backend still knows."""

    async def compact(self, rv: int) -> None: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """No durability: for tests and ``--state-dir`` less runs."""

    def __init__(self) -> None:
        self._boot = 0

    def load(self) -> Snapshot:
        return Snapshot(0, 0, [])

    async def commit(self, rows: Sequence[Row], revision: int) -> None:
        return None

    def changes_since(self, group_resource: str, rv: int) -> list[Row] | None:
        return None

    async def compact(self, rv: int) -> None:
        return None

    async def close(self) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    gr TEXT NOT NULL,
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    created_rv INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    raw BLOB NOT NULL,
    PRIMARY KEY (gr, ns, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_rv ON objects (gr, rv);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""


class SqliteBackend:
    """SQLite in WAL mode, group-committed from one writer thread."""

    def __init__(self, path: pathlib.Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        # One thread owns the write connection: sqlite3 connections are not shared across
        # threads, and a single writer is what SQLite wants anyway.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._conn = self._run_sync(self._open)

    def _run_sync(self, fn: object) -> sqlite3.Connection:
        return self._executor.submit(fn).result()  # type: ignore[arg-type]

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self._fsync else 'NORMAL'}")
        conn.execute("PRAGMA wal_autocheckpoint=4000")
        conn.executescript(_SCHEMA)
        return conn

    def load(self) -> Snapshot:
        def read() -> Snapshot:
            meta = dict(self._conn.execute("SELECT k, v FROM meta").fetchall())
            rows = [
                Row(gr, ns, name, rv, crv, False, bytes(raw))
                for gr, ns, name, rv, crv, raw in self._conn.execute(
                    "SELECT gr, ns, name, rv, created_rv, raw FROM objects WHERE deleted = 0"
                )
            ]
            return Snapshot(int(meta.get("revision", 0)), int(meta.get("compacted", 0)), rows)

        return self._executor.submit(read).result()

    def _write(self, rows: Iterable[Row], revision: int) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO objects (gr, ns, name, rv, created_rv, deleted, raw)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.group_resource,
                        r.namespace,
                        r.name,
                        r.rv,
                        r.created_rv,
                        int(r.deleted),
                        r.raw,
                    )
                    for r in rows
                ],
            )
            conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('revision', ?)", (revision,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def commit(self, rows: Sequence[Row], revision: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._write, rows, revision)

    def changes_since(self, group_resource: str, rv: int) -> list[Row] | None:
        def read() -> list[Row] | None:
            compacted = self._conn.execute("SELECT v FROM meta WHERE k = 'compacted'").fetchone()
            if compacted is not None and rv < int(compacted[0]):
                return None
            return [
                Row(group_resource, ns, name, r, crv, bool(deleted), bytes(raw))
                for ns, name, r, crv, deleted, raw in self._conn.execute(
                    "SELECT ns, name, rv, created_rv, deleted, raw FROM objects"
                    " WHERE gr = ? AND rv > ? ORDER BY rv",
                    (group_resource, rv),
                )
            ]

        return self._executor.submit(read).result()

    async def compact(self, rv: int) -> None:
        def run() -> None:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM objects WHERE deleted = 1 AND rv <= ?", (rv,))
            conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('compacted', ?)", (rv,))
            conn.execute("COMMIT")

        await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def close(self) -> None:
        def run() -> None:
            self._conn.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, run)
        self._executor.shutdown(wait=True)
