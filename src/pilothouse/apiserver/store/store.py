"""The in-memory object store with a single global resourceVersion and group commit.

All mutations happen on the event loop thread, synchronously: the compare-and-swap of a
``resourceVersion`` precondition and the write that follows can't interleave with another
request, so no locks are needed. A mutation then awaits its durable commit (see
:mod:`~pilothouse.apiserver.store.backend`) before the caller acknowledges it; watchers are
told about an event only after it is durable, so no watcher ever sees a change that a crash
could take back.

Caveat: a concurrent *read* may observe a write in the short window before it is durable.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from pilothouse.apiserver.store import backend as backend_mod
from pilothouse.apiserver.store import records, watch

log = logging.getLogger(__name__)

#: Computes the selectable fields of an object of a group resource (None: name/namespace only).
FieldsFn = Callable[[str, Mapping[str, Any]], Mapping[str, str] | None]


def _encode(obj: Mapping[str, Any]) -> bytes:
    # orjson hands back its whole (over-allocated) output buffer; records live long, so keep
    # an exact-size copy instead: this halves the memory of a store of 1 KB objects.
    return bytes(memoryview(orjson.dumps(obj)))


class PreconditionFailed(Exception):
    """The object's resourceVersion (or existence) is not what the caller expected."""


class StorageFailure(Exception):
    """The backend failed to commit; the store refuses further writes."""


def _owner_uids(meta: Mapping[str, Any]) -> tuple[str, ...]:
    refs = meta.get("ownerReferences")
    if not refs:
        return ()
    return tuple(r["uid"] for r in refs if isinstance(r, Mapping) and isinstance(r.get("uid"), str))


class Store:
    """Objects by group resource, namespace and name."""

    def __init__(
        self,
        backend: backend_mod.Backend | None = None,
        *,
        fields_fn: FieldsFn | None = None,
        history_size: int = 100_000,
    ) -> None:
        self.backend: backend_mod.Backend = backend or backend_mod.MemoryBackend()
        self._fields_fn = fields_fn
        self._data: dict[str, dict[str, dict[str, records.Record]]] = collections.defaultdict(
            lambda: collections.defaultdict(dict)
        )
        self._by_uid: dict[str, records.Record] = {}
        self._dependents: dict[str, set[tuple[str, str, str]]] = collections.defaultdict(set)
        self.revision = 0
        self.hub = watch.WatchHub(history_size)
        self._pending_rows: dict[tuple[str, str, str], backend_mod.Row] = {}
        self._pending_events: list[records.Event] = []
        self._batch: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        #: Callbacks run (synchronously, on the loop) for every committed event batch.
        self.listeners: list[Callable[[list[records.Event]], None]] = []

    # -- lifecycle ---------------------------------------------------------------------

    def load(self) -> None:
        snap = self.backend.load()
        for row in snap.rows:
            self._install(
                self._record(
                    row.group_resource, row.namespace, row.name, row.rv, row.raw, row.created_rv
                )
            )
        self.revision = snap.revision
        self.hub.reset(snap.revision)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        self.hub.close_all()
        await self.backend.close()

    # -- reads ---------------------------------------------------------------------------

    def get(self, group_resource: str, namespace: str, name: str) -> records.Record | None:
        return self._data[group_resource][namespace].get(name)

    def by_uid(self, uid: str) -> records.Record | None:
        return self._by_uid.get(uid)

    def dependents(self, owner_uid: str) -> list[records.Record]:
        out = []
        for gr, ns, name in self._dependents.get(owner_uid, ()):
            rec = self.get(gr, ns, name)
            if rec is not None:
                out.append(rec)
        return out

    def iter(self, group_resource: str, namespace: str | None = None) -> Iterator[records.Record]:
        """Records of a group resource, optionally in one namespace; unordered."""
        by_ns = self._data.get(group_resource)
        if not by_ns:
            return
        if namespace is not None:
            yield from by_ns.get(namespace, {}).values()
            return
        for objs in by_ns.values():
            yield from objs.values()

    def count(self, group_resource: str, namespace: str | None = None) -> int:
        by_ns = self._data.get(group_resource)
        if not by_ns:
            return 0
        if namespace is not None:
            return len(by_ns.get(namespace, {}))
        return sum(len(v) for v in by_ns.values())

    # -- writes ----------------------------------------------------------------------------

    async def create(self, group_resource: str, obj: dict[str, Any]) -> records.Record:
        """Store a new object; PreconditionFailed if it already exists."""
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if name in self._data[group_resource][ns]:
            raise PreconditionFailed("exists")
        rec = self._write(group_resource, ns, name, obj, None)
        await self._durable()
        return rec

    async def update(
        self, group_resource: str, obj: dict[str, Any], expect_rv: int | None
    ) -> records.Record:
        """Replace an existing object; with ``expect_rv`` only if it is still at that version."""
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        prev = self._data[group_resource][ns].get(name)
        if prev is None or (expect_rv is not None and prev.rv != expect_rv):
            raise PreconditionFailed("changed")
        rec = self._write(group_resource, ns, name, obj, prev)
        await self._durable()
        return rec

    async def delete(
        self, group_resource: str, namespace: str, name: str, expect_rv: int | None = None
    ) -> records.Record:
        """Remove an object; returns its final state at the deletion's resourceVersion."""
        self._check_writable()
        prev = self._data[group_resource][namespace].get(name)
        if prev is None or (expect_rv is not None and prev.rv != expect_rv):
            raise PreconditionFailed("changed")
        self.revision += 1
        obj = prev.obj()
        obj["metadata"]["resourceVersion"] = str(self.revision)
        rec = self._record(
            group_resource, namespace, name, self.revision, _encode(obj), prev.created_rv
        )
        self._uninstall(prev)
        self._enqueue(records.Event(records.DELETED, rec, prev), deleted=True)
        await self._durable()
        return rec

    def _check_writable(self) -> None:
        if self._failed is not None:
            raise StorageFailure(f"storage is read-only after a failed commit: {self._failed}")

    def _write(
        self,
        group_resource: str,
        ns: str,
        name: str,
        obj: dict[str, Any],
        prev: records.Record | None,
    ) -> records.Record:
        self._check_writable()
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        raw = _encode(obj)
        rec = self._record(
            group_resource,
            ns,
            name,
            self.revision,
            raw,
            prev.created_rv if prev else self.revision,
            obj,
        )
        if prev is not None:
            self._uninstall(prev)
        self._install(rec)
        self._enqueue(records.Event(records.MODIFIED if prev else records.ADDED, rec, prev))
        return rec

    def _record(
        self,
        gr: str,
        ns: str,
        name: str,
        rv: int,
        raw: bytes,
        created_rv: int,
        obj: Mapping[str, Any] | None = None,
    ) -> records.Record:
        if obj is None:
            obj = orjson.loads(raw)
            assert isinstance(obj, Mapping)
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or None
        fields = self._fields_fn(gr, obj) if self._fields_fn else None
        return records.Record(
            gr,
            ns,
            name,
            rv,
            raw,
            str(meta.get("uid", "")),
            labels,
            fields,
            _owner_uids(meta),
            created_rv,
        )

    def _install(self, rec: records.Record) -> None:
        self._data[rec.group_resource][rec.namespace][rec.name] = rec
        if rec.uid:
            self._by_uid[rec.uid] = rec
        for owner in rec.owners:
            self._dependents[owner].add(rec.key)

    def _uninstall(self, rec: records.Record) -> None:
        objs = self._data[rec.group_resource][rec.namespace]
        objs.pop(rec.name, None)
        if rec.uid and self._by_uid.get(rec.uid) is rec:
            del self._by_uid[rec.uid]
        for owner in rec.owners:
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(rec.key)
                if not deps:
                    del self._dependents[owner]

    # -- commit pipeline -----------------------------------------------------------------

    def _enqueue(self, event: records.Event, *, deleted: bool = False) -> None:
        rec = event.record
        self._pending_rows[rec.key] = backend_mod.Row(
            rec.group_resource, rec.namespace, rec.name, rec.rv, rec.created_rv, deleted, rec.raw
        )
        self._pending_events.append(event)
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _durable(self) -> asyncio.Future[None]:
        assert self._batch is not None
        return asyncio.shield(self._batch)

    async def _flush(self) -> None:
        try:
            while self._pending_events:
                rows = list(self._pending_rows.values())
                events = self._pending_events
                batch = self._batch
                revision = self.revision
                self._pending_rows = {}
                self._pending_events = []
                self._batch = None
                assert batch is not None
                try:
                    await self.backend.commit(rows, revision)
                except BaseException as exc:
                    log.exception("storage commit failed; the store is now read-only")
                    self._failed = exc
                    batch.set_exception(StorageFailure(str(exc)))
                    batch.exception()  # mark retrieved: every writer gets it via shield
                    raise
                self.hub.dispatch(events)
                for listener in self.listeners:
                    try:
                        listener(events)
                    except Exception:
                        log.exception("store listener failed")
                batch.set_result(None)
        finally:
            self._flusher = None

    async def settle(self) -> None:
        """Wait until every write made so far is durable and dispatched."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def compact(self, keep: int) -> None:
        """Forget tombstones older than the newest ``keep`` revisions."""
        await self.backend.compact(max(0, self.revision - keep), self.revision)

    def catch_up(self, group_resource: str, from_rv: int) -> list[records.Event] | None:
        """Events after ``from_rv`` reconstructed from the backend (after a restart), or
        None if the backend no longer knows that far back."""
        rows = self.backend.changes_since(group_resource, from_rv)
        if rows is None:
            return None
        out = []
        for row in rows:
            if row.rv > self.hub.dispatched_rv:
                break
            rec = self._record(
                row.group_resource, row.namespace, row.name, row.rv, row.raw, row.created_rv
            )
            if row.deleted:
                if row.created_rv > from_rv:
                    continue  # born and gone since: the watcher never saw it
                out.append(records.Event(records.DELETED, rec, rec))
            elif row.created_rv > from_rv:
                out.append(records.Event(records.ADDED, rec, None))
            else:
                out.append(records.Event(records.MODIFIED, rec, rec))
        return out
