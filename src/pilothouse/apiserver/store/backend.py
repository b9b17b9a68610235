"""Durability backends for :class:`~pilothouse.apiserver.store.store.Store`.

The guarantee (also stated in ``docs/durability.md``): a write is acknowledged to the client
only after its transaction has committed to SQLite in WAL mode. With ``synchronous=NORMAL``
(the default) a committed transaction survives the server process being killed at any
instant, SIGKILL included, because the WAL frames are already in the operating system's page
cache; with ``fsync=True`` (``synchronous=FULL``) it also survives power loss, at the cost of
an ``fsync`` per group commit.

Writes are group-committed: every write made while a commit is in flight joins the next
transaction, so throughput grows with concurrency instead of paying one commit per write.

Deleted objects stay behind as tombstones (``deleted = 1``) until compaction, so that after a
restart a watch can resume from a resourceVersion older than the process: the rows changed
since then become the events it missed (intermediate versions of an object are collapsed into
its latest state, which is what etcd compaction does too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import pathlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


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

    async def compact(self, rv: int, revision: int) -> None:
        """Forget tombstones at or below ``rv``; ``revision`` is the current revision."""

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

    async def compact(self, rv: int, revision: int) -> None:
        return None

    async def close(self) -> None:
        return None


# Layout choices, each measured on batches of 16 writes of 1 KB objects:
# * a rowid table with a unique key, not WITHOUT ROWID: rows carry ~1 KB blobs, which a
#   WITHOUT ROWID b-tree keys poorly (31 -> 15 us per row);
# * no index on rv and no per-commit revision row: every b-tree a commit touches is pages
#   rewritten to the WAL. The revision is the largest rv stored (tombstones included), and the
#   rare scan by rv (a watch resumed after a restart) reads the table instead.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    gr TEXT NOT NULL,
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    created_rv INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    raw BLOB NOT NULL,
    UNIQUE (gr, ns, name)
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""
#: Bumped whenever the layout changes; a database of another version is refused.
SCHEMA_VERSION = 1


class _Checkpointer:
    """Copies the WAL back into the database on its own thread and connection.

    SQLite's automatic checkpoint runs inside a committing write and, even with
    ``synchronous=NORMAL``, fsyncs: on a slow disk that stalls every writer behind it. A
    PASSIVE checkpoint from another connection never blocks the writer.
    """

    def __init__(self, path: pathlib.Path, every_rows: int) -> None:
        self._path = path
        self._every = every_rows
        self._pending = 0
        self._wake = threading.Event()
        self._stopping = False
        self._rounds = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, rows: int) -> None:
        self._pending += rows
        if self._pending >= self._every:
            self._pending = 0
            self._wake.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    # PASSIVE never waits for the writer, but under a steady write load it
                    # never catches up either, and the WAL only grows; so every few rounds
                    # a TRUNCATE checkpoint (a short pause for writers) resets it.
                    self._rounds += 1
                    mode = "TRUNCATE" if self._rounds % 4 == 0 else "PASSIVE"
                    conn.execute(f"PRAGMA wal_checkpoint({mode})")
                except sqlite3.Error:
                    log.exception("WAL checkpoint failed; will retry after more writes")
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(30)


class SqliteBackend:
    """SQLite in WAL mode, group-committed.

    Without ``fsync`` a commit is a few tens of microseconds of CPU and no I/O wait, so it
    runs on the event loop's thread (a hand-off to another thread cost more than the commit
    itself, measured 20% of throughput); checkpoints run on their own thread
    (:class:`_Checkpointer`). With ``fsync`` every commit waits for the disk, so commits run
    on one writer thread and the loop keeps serving meanwhile.
    """

    def __init__(self, path: pathlib.Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite") if fsync else None
        )
        self._conn = self._call(self._open)
        self._checkpointer = None if fsync else _Checkpointer(path, every_rows=2000)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` where the write connection lives, waiting for it."""
        if self._executor is None:
            return fn()
        return self._executor.submit(fn).result()

    async def _acall(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            return fn()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self._fsync else 'NORMAL'}")
        conn.execute(f"PRAGMA wal_autocheckpoint={4000 if self._fsync else 0}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        empty = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        if empty:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(
                f"{self.path}: storage layout version {version}, this server reads version "
                f"{SCHEMA_VERSION}; start with a new --state-dir"
            )
        return conn

    def load(self) -> Snapshot:
        def read() -> Snapshot:
            meta = dict(self._conn.execute("SELECT k, v FROM meta").fetchall())
            (top,) = self._conn.execute("SELECT coalesce(max(rv), 0) FROM objects").fetchone()
            meta["revision"] = max(int(top), int(meta.get("revision", 0)))
            rows = [
                Row(gr, ns, name, rv, crv, False, bytes(raw))
                for gr, ns, name, rv, crv, raw in self._conn.execute(
                    "SELECT gr, ns, name, rv, created_rv, raw FROM objects WHERE deleted = 0"
                )
            ]
            return Snapshot(int(meta.get("revision", 0)), int(meta.get("compacted", 0)), rows)

        return self._call(read)

    def _write(self, rows: Sequence[Row], revision: int) -> None:
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
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if self._checkpointer is not None:
            self._checkpointer.wrote(len(rows))

    async def commit(self, rows: Sequence[Row], revision: int) -> None:
        await self._acall(lambda: self._write(rows, revision))

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

        return self._call(read)

    async def compact(self, rv: int, revision: int) -> None:
        def run() -> None:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM objects WHERE deleted = 1 AND rv <= ?", (rv,))
            conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('compacted', ?)", (rv,))
            # The newest tombstones may be among those deleted: keep the revision counter.
            conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('revision', ?)", (revision,))
            conn.execute("COMMIT")

        await self._acall(run)

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        await self._acall(self._conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
