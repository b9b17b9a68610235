"""The garbage collector: ownerReferences, propagation policies and ``blockOwnerDeletion``.

Driven by the store's committed events, level-triggered through one keyed worker whose keys
are object UIDs:

* an object whose owners are all gone is deleted (in the background, or in the foreground
  when an owner is itself being deleted in the foreground and the reference has
  ``blockOwnerDeletion``); references to owners that are gone are dropped from an object that
  still has a live owner;
* an owner carrying the ``orphan`` finalizer has its references removed from every dependent,
  then loses the finalizer;
* an owner carrying ``foregroundDeletion`` has its dependents deleted and keeps the finalizer
  until none that block its deletion remain.

Owners are identified by UID, as in kube: a new object with the same name is a different
owner.
"""

from __future__ import annotations

import logging
from typing import Any

from pilothouse.apiserver import errors, state, workers
from pilothouse.apiserver.rest import context, deletion, options
from pilothouse.apiserver.store import records
from pilothouse.apiserver.store import store as store_mod

log = logging.getLogger(__name__)


class GarbageCollector:
    def __init__(self, st: state.ServerState) -> None:
        self.st = st
        self.worker: workers.KeyedWorker[str] = workers.KeyedWorker(
            "garbage-collector", self._process
        )

    def start(self) -> None:
        self.st.store.listeners.append(self._on_events)
        self.worker.start()
        # Level-triggered start: anything left half-done before a restart is picked up.
        for rt in self.st.types.all():
            if not rt.persisted:
                continue
            for rec in self.st.store.iter(rt.storage_key):
                if rec.owners or self._deleting_with_policy(rec):
                    self.worker.enqueue(rec.uid)

    async def stop(self) -> None:
        await self.worker.stop()

    @staticmethod
    def _deleting_with_policy(rec: records.Record) -> bool:
        # Cheap pre-check on the raw bytes before decoding.
        return b'"deletionTimestamp"' in rec.raw and (
            b'"foregroundDeletion"' in rec.raw or b'"orphan"' in rec.raw
        )

    def _on_events(self, events: list[records.Event]) -> None:
        for ev in events:
            rec = ev.record
            if ev.type == records.DELETED:
                for dep in self.st.store.dependents(rec.uid):
                    self.worker.enqueue(dep.uid)
                for owner in rec.owners:
                    self.worker.enqueue(owner)
            else:
                if self._deleting_with_policy(rec):
                    self.worker.enqueue(rec.uid)
                if rec.owners and (ev.prev is None or ev.prev.owners != rec.owners):
                    self.worker.enqueue(rec.uid)

    def _ctx(self, rec: records.Record) -> context.RequestContext | None:
        rt = self.st.types.by_group_resource(rec.group_resource)
        if rt is None:
            return None
        return context.RequestContext(
            rt, rec.namespace, rec.name, user_agent="pilothouse-garbage-collector"
        )

    async def _process(self, uid: str) -> None:
        rec = self.st.store.by_uid(uid)
        if rec is None:
            return
        obj = rec.obj()
        meta = obj["metadata"]
        fins = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and deletion.ORPHAN in fins:
            await self._orphan_dependents(rec)
            return
        if meta.get("deletionTimestamp") and deletion.FOREGROUND in fins:
            await self._foreground(rec)
            return
        if rec.owners:
            await self._check_owners(rec, obj)

    async def _check_owners(self, rec: records.Record, obj: dict[str, Any]) -> None:
        refs = obj["metadata"].get("ownerReferences") or []
        live, foreground_block = [], False
        for ref in refs:
            owner = self.st.store.by_uid(ref.get("uid", ""))
            if owner is None:
                continue
            live.append(ref)
            o_meta = owner.obj()["metadata"]
            if (
                o_meta.get("deletionTimestamp")
                and deletion.FOREGROUND in (o_meta.get("finalizers") or [])
                and ref.get("blockOwnerDeletion")
            ):
                foreground_block = True
        if foreground_block and len(live) == 1:
            await self._delete(rec, "Foreground")
            return
        if not live:
            await self._delete(rec, "Background")
            return
        if len(live) != len(refs):
            obj["metadata"]["ownerReferences"] = live
            try:
                await self.st.store.update(rec.group_resource, obj, rec.rv)
            except store_mod.PreconditionFailed:
                self.worker.enqueue(rec.uid)

    async def _delete(self, rec: records.Record, policy: str) -> None:
        ctx = self._ctx(rec)
        if ctx is None:
            return
        if rec.obj()["metadata"].get("deletionTimestamp"):
            return
        try:
            await deletion.delete(self.st, ctx, options.DeleteOptions(propagation_policy=policy))
        except errors.ApiError as exc:
            if exc.code != 404:
                raise

    async def _orphan_dependents(self, owner: records.Record) -> None:
        for dep in self.st.store.dependents(owner.uid):
            while True:
                cur = self.st.store.get(*dep.key)
                if cur is None:
                    break
                obj = cur.obj()
                refs = [
                    r
                    for r in obj["metadata"].get("ownerReferences") or []
                    if r.get("uid") != owner.uid
                ]
                if refs:
                    obj["metadata"]["ownerReferences"] = refs
                else:
                    obj["metadata"].pop("ownerReferences", None)
                try:
                    await self.st.store.update(cur.group_resource, obj, cur.rv)
                    break
                except store_mod.PreconditionFailed:
                    continue
        await self._drop_finalizer(owner.uid, deletion.ORPHAN)

    async def _foreground(self, owner: records.Record) -> None:
        blocking = 0
        for dep in self.st.store.dependents(owner.uid):
            obj = dep.obj()
            ref: dict[str, Any] = next(
                (
                    r
                    for r in obj["metadata"].get("ownerReferences") or []
                    if r.get("uid") == owner.uid
                ),
                {},
            )
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            others_alive = any(
                r.get("uid") != owner.uid and self.st.store.by_uid(r.get("uid", "")) is not None
                for r in obj["metadata"].get("ownerReferences") or []
            )
            if others_alive:
                # Another owner keeps it: just let go of this one.
                obj["metadata"]["ownerReferences"] = [
                    r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != owner.uid
                ]
                try:
                    await self.st.store.update(dep.group_resource, obj, dep.rv)
                except store_mod.PreconditionFailed:
                    self.worker.enqueue(owner.uid)
                continue
            if not obj["metadata"].get("deletionTimestamp"):
                await self._delete(dep, "Foreground")
        if blocking:
            return  # woken again as each dependent goes
        await self._drop_finalizer(owner.uid, deletion.FOREGROUND)

    async def _drop_finalizer(self, uid: str, finalizer: str) -> None:
        while True:
            rec = self.st.store.by_uid(uid)
            if rec is None:
                return
            obj = rec.obj()
            fins = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
            obj["metadata"]["finalizers"] = fins
            try:
                if (
                    not fins
                    and not obj["metadata"].get("deletionGracePeriodSeconds")
                    and not (
                        rec.group_resource == "namespaces"
                        and (obj.get("spec") or {}).get("finalizers")
                    )
                ):
                    await self.st.store.delete(rec.group_resource, rec.namespace, rec.name, rec.rv)
                else:
                    if not fins:
                        del obj["metadata"]["finalizers"]
                    await self.st.store.update(rec.group_resource, obj, rec.rv)
                return
            except store_mod.PreconditionFailed:
                continue
