"""An informer: one list+watch of one kind, a :class:`~pilothouse.runtime.store.Store` kept
current from it, and handlers told of every change.

The loop is client-go's reflector:

1. **List** (paged) and *replace* the store: objects new to the store are announced as
   adds, objects whose resourceVersion changed as updates, objects that vanished as
   deletes (with their last known state). A relist therefore neither loses nor repeats a
   notification, which is what makes ``410 Gone`` safe to recover from. Pages go into the
   store as they arrive (deletions once the last page is in), so a large list is never
   held decoded all at once.
2. **Watch** from the list's resourceVersion, with bookmarks, applying each event to the
   store and telling the handlers. The resourceVersion of every event and bookmark is
   remembered.
3. When the watch ends -- the server's ``timeoutSeconds`` (5-10 minutes, randomised so
   that many informers do not reconnect at once), a dropped connection, or silence longer
   than ``inactivity_timeout`` (a connection that died without a FIN; bookmarks keep a
   healthy one talking) -- watch again from the remembered resourceVersion. If the server
   answers ``410 Gone`` (that version is compacted), go back to 1.

Every relist is counted (``reason`` = ``initial``, ``gone``, ``error``) through ``on_relist``
and logged. Errors back off exponentially (0.8 s doubling to 30 s, as client-go's reflector);
the delay starts over when the watch that failed had been working (it delivered events or ran
for a minute), and a watch that ends at once with nothing to say backs off too. No error ends
the loop: an unexpected one is logged and answered with a relist.

Events are applied only if they are news: a watch started from a paged list's
resourceVersion may replay changes a later page already showed, and those are skipped
(compared by resourceVersion), as are deletions of objects the store does not hold.

Handlers are called synchronously on the event loop, in event order, and must be quick (a
controller's handler only puts keys on its queue). A handler added after the informer has
synced is first told of every object already in the store, as client-go does. Every object
passes through ``transform`` first (by default :func:`strip_managed_fields`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from pilothouse.api import kinds
from pilothouse.client import auth as auth_mod
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.runtime import store as store_mod

log = logging.getLogger("pilothouse.informer")

Obj = dict[str, Any]


class EventHandler(Protocol):
    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


#: Changes each object, in place, before it is stored or handed to handlers.
Transform = Callable[[Obj], None]


def strip_managed_fields(obj: Obj) -> None:
    """The default transform: drop ``metadata.managedFields``. Server-side apply keeps them
    on the server; a controller almost never reads them, and they are a third of a small
    object's size (controller-runtime and kube-rs users strip them the same way)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)


#: Told of each relist: (kind, reason).
RelistHook = Callable[[kinds.Kind, str], None]


#: A watch that ran this long (seconds) before failing counts as healthy, events or not.
_HEALTHY_WATCH = 60.0


def _next_backoff(backoff: float) -> float:
    """0.8 s doubling to 30 s, as client-go's reflector."""
    return min(max(backoff * 2, 0.8), 30.0)


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _stale(event_rv: str, stored_rv: str, *, deleted: bool) -> bool:
    """Whether an event at ``event_rv`` says nothing new about an object stored at
    ``stored_rv``. Kubernetes calls resourceVersions opaque, but storage-backed resources
    use etcd's integer revisions, which order; when either is not an integer only equality
    is known (a deletion is then always news)."""
    if event_rv.isdigit() and stored_rv.isdigit():
        if deleted:
            return int(event_rv) < int(stored_rv)
        return int(event_rv) <= int(stored_rv)
    return not deleted and event_rv == stored_rv


class Informer:
    def __init__(
        self,
        client: client_mod.Client,
        kind: kinds.Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        inactivity_timeout: float = 150.0,
        watch_timeout: tuple[int, int] = (300, 600),
        page_size: int = 500,
        on_relist: RelistHook | None = None,
        transform: Transform | None = strip_managed_fields,
    ) -> None:
        self.client = client
        self.kind = kind
        self.transform = transform
        #: Why the last list or watch failed (None after a successful list): what a cache
        #: read that timed out waiting for this informer reports.
        self.last_error: BaseException | None = None
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.metadata_only = metadata_only
        self.inactivity_timeout = inactivity_timeout
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.on_relist = on_relist
        self.store = store_mod.Store()
        self.resource_version = ""
        self.relists = 0
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watch_events = 0

    def __repr__(self) -> str:
        return f"<Informer {self.kind} ns={self.namespace or '*'} sel={self.label_selector}>"

    # -- handlers --------------------------------------------------------------------------

    def add_handler(self, handler: EventHandler) -> None:
        self._handlers.append(handler)
        if self._synced.is_set():
            for obj in list(self.store.values()):
                self._call(handler.on_add, obj)

    def _call(self, fn: Callable[..., None], *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("event handler failed", extra={"kind": str(self.kind)})

    def _added(self, obj: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_add, obj)

    def _updated(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_update, old, new)

    def _deleted(self, obj: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_delete, obj)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"informer {self.kind}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        backoff = 0.0
        need_list, reason = True, "initial"
        loop = asyncio.get_running_loop()
        while True:
            watch_started: float | None = None
            self._watch_events = 0
            try:
                if need_list:
                    await self._relist(reason)
                    need_list = False
                    self.last_error = None
                watch_started = loop.time()
                await self._watch()
                if self._watch_events == 0 and loop.time() - watch_started < 1.0:
                    # A watch that ended at once with nothing to say (a proxy closing
                    # streams, a server shedding load): back off rather than reconnect in a
                    # tight loop, as client-go's reflector does for "very short watches".
                    backoff = _next_backoff(backoff)
                    log.warning(
                        "watch of %s ended immediately; retrying in %.1fs", self.kind, backoff
                    )
                    await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                else:
                    backoff = 0.0
            except errors.Gone as exc:
                if need_list:
                    # The list itself expired (a continue token outlived its snapshot):
                    # back off rather than relist in a tight loop.
                    backoff = _next_backoff(backoff)
                    log.warning("list of %s expired (%s); retrying", self.kind, exc)
                    await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                else:
                    log.info("watch of %s expired (410 Gone); relisting", self.kind)
                need_list, reason = True, "gone"
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = exc
                expected = (
                    TimeoutError,
                    aiohttp.ClientError,
                    errors.ApiError,
                    OSError,
                    auth_mod.AuthError,  # e.g. an exec plugin that failed for now
                )
                if not isinstance(exc, expected):
                    # A bug or an answer we cannot read: never let the informer die silently
                    # (its cache would freeze); start over from a fresh list.
                    log.exception("watch of %s failed unexpectedly; relisting", self.kind)
                    need_list, reason = True, "error"
                if watch_started is not None and (
                    self._watch_events > 0 or loop.time() - watch_started >= _HEALTHY_WATCH
                ):
                    # The watch worked before it broke: this is a new failure, not one more
                    # in a series, so the delay starts over (client-go resets its backoff
                    # after a quiet period too) instead of growing with every disconnect.
                    backoff = 0.0
                backoff = _next_backoff(backoff)
                if isinstance(exc, errors.ApiError) and not self._synced.is_set():
                    need_list, reason = True, "error"
                log.warning(
                    "watch of %s failed (%s: %s); retrying in %.1fs",
                    self.kind,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                # A deliberate retry delay (client-go's backoff manager), not a wait for a
                # condition.
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                if isinstance(exc, errors.ApiError) and self._synced.is_set():
                    # An API error on a synced informer (403, 5xx) may mean our
                    # resourceVersion is no good any more: relist to be safe.
                    need_list, reason = True, "error"

    # -- list ------------------------------------------------------------------------------

    async def _relist(self, reason: str) -> None:
        # Each page goes into the store as it arrives: holding the whole list decoded
        # (client-go's way) would make the peak memory of a 10,000-object relist several
        # times what the compact store needs afterwards. Objects the list did not contain
        # are deleted once the last page is in.
        seen: set[str] = set()
        cont: str | None = None
        rv = ""
        count = 0
        while True:
            page = await self.client.list(
                self.kind,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_=cont,
                metadata_only=self.metadata_only,
            )
            rv = rv or page.resource_version
            cont = page.continue_
            count += len(page.items)
            self._merge_page(page.items, seen)
            del page
            if not cont:
                break
        self._drop_unseen(seen)
        self.relists += 1
        if self.on_relist is not None:
            try:
                self.on_relist(self.kind, reason)
            except Exception:
                log.exception("on_relist hook failed", extra={"kind": str(self.kind)})
        if reason != "initial":
            log.info("relisted %s (%s): %d objects at %s", self.kind, reason, count, rv)
        self.resource_version = rv
        self._synced.set()

    def _merge_page(self, items: list[Obj], seen: set[str]) -> None:
        store = self.store
        for obj in items:
            self._normalise(obj)
            key = store_mod.key_of(obj)
            seen.add(key)
            stored_rv = store.resource_version(key)
            if stored_rv is None:
                store.put(obj)
                self._added(obj)
            elif stored_rv != _rv(obj):
                old = store.get(key)
                store.put(obj)
                assert old is not None
                self._updated(old, obj)

    def _drop_unseen(self, seen: set[str]) -> None:
        store = self.store
        for key in [k for k in store.all_keys() if k not in seen]:
            gone = store.get(key)
            store.remove(key)
            if gone is not None:
                self._deleted(gone)

    def _normalise(self, obj: Obj) -> None:
        if self.transform is not None:
            self.transform(obj)
        if self.metadata_only:
            # PartialObjectMetadata says meta.k8s.io; controllers want the real kind.
            obj["apiVersion"] = self.kind.api_version
            obj["kind"] = self.kind.kind

    # -- watch -----------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Watch until the stream ends, counting events (bookmarks included) in
        ``_watch_events``."""
        stream = self.client.watch(
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            allow_bookmarks=True,
            timeout_seconds=random.randint(*self.watch_timeout),
            inactivity_timeout=self.inactivity_timeout,
            metadata_only=self.metadata_only,
        )
        try:
            async for event in stream:
                self._watch_events += 1
                self._apply(event.type, event.object)
                self.resource_version = event.resource_version or self.resource_version
        finally:
            # Close the stream (and its connection) now, also when we stop on an error.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def _apply(self, type_: str, obj: Obj) -> None:
        if type_ == "BOOKMARK":
            return
        self._normalise(obj)
        key = store_mod.key_of(obj)
        stored_rv = self.store.resource_version(key)
        # A watch started from a paged list's resourceVersion may replay changes that a later
        # page already showed (pages after the first are read at the current revision):
        # skip events not newer than what the store holds, so that no change is notified
        # twice and the store never goes back to an older state. Deleting an object the
        # store does not hold is no news either (client-go's DeltaFIFO drops it too).
        if type_ == "DELETED":
            if stored_rv is None or _stale(_rv(obj), stored_rv, deleted=True):
                return
            self.store.remove(key)
            self._deleted(obj)
            return
        if stored_rv is not None and _stale(_rv(obj), stored_rv, deleted=False):
            return
        old = self.store.get(key) if stored_rv is not None and self._handlers else None
        self.store.put(obj)
        if stored_rv is None:
            self._added(obj)
        elif old is not None:
            self._updated(old, obj)
