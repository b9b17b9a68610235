"""The shared informer cache: one list+watch per kind per process, read by every controller.

:class:`Cache` hands out one :class:`~pilothouse.runtime.informer.Informer` per kind (created
on first use, started when the cache is), so ten controllers that read Deployments cost
one watch. Reads (:meth:`Cache.get`, :meth:`Cache.list`) are answered from memory -- the
point of the cache: a reconcile that reads twenty objects makes no request.

Bounding memory, as controller-runtime's ``cache.Options`` does:

* ``namespace`` restricts every informer to one namespace;
* ``label_selectors`` restricts a kind's informer to matching objects (objects outside the
  selector are invisible to reads -- the caveat that comes with it);
* ``metadata_only`` kinds are watched as ``PartialObjectMetadata`` (no spec, no status),
  enough for ownership and existence checks on large objects.

Guarantees: a read after :meth:`Cache.wait_for_sync` sees at least the state of the initial
list; reads are eventually consistent with the server (a reconcile triggered by an event
sees that event's object or newer); every read returns a private copy (see
:mod:`~pilothouse.runtime.store`). By default ``metadata.managedFields`` is not cached
(``transform=None`` keeps objects whole).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from pilothouse.api import kinds, labels
from pilothouse.client import client as client_mod
from pilothouse.client import errors, typed
from pilothouse.runtime import informer as informer_mod
from pilothouse.runtime import store as store_mod

Obj = dict[str, Any]


class CacheNotSynced(RuntimeError):
    """A read waited too long for its kind's informer to list (kind not served, no RBAC)."""


class Cache:
    def __init__(
        self,
        client: client_mod.Client,
        *,
        namespace: str | None = None,
        label_selectors: Mapping[kinds.Kind, str] | None = None,
        metadata_only: Iterable[kinds.Kind] = (),
        inactivity_timeout: float = 150.0,
        on_relist: informer_mod.RelistHook | None = None,
        transform: informer_mod.Transform | None = informer_mod.strip_managed_fields,
        read_timeout: float = 60.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        # Keys may be typed classes as well as Kinds: informers are looked up by Kind.
        self.label_selectors = {
            typed.require_kind(k): sel for k, sel in (label_selectors or {}).items()
        }
        self.metadata_only = {typed.require_kind(k) for k in metadata_only}
        self.inactivity_timeout = inactivity_timeout
        self.on_relist = on_relist
        self.transform = transform
        #: How long a read waits for its kind's first list before :class:`CacheNotSynced`.
        self.read_timeout = read_timeout
        self._informers: dict[kinds.Kind, informer_mod.Informer] = {}
        self._started = False

    def informer(self, kind: Any) -> informer_mod.Informer:
        """The informer for ``kind`` (a Kind or a typed class), created on first use."""
        k = typed.require_kind(kind)
        inf = self._informers.get(k)
        if inf is None:
            inf = informer_mod.Informer(
                self.client,
                k,
                namespace=self.namespace if k.namespaced else None,
                label_selector=self.label_selectors.get(k),
                metadata_only=k in self.metadata_only,
                inactivity_timeout=self.inactivity_timeout,
                on_relist=self.on_relist,
                transform=self.transform,
            )
            self._informers[k] = inf
            if self._started:
                inf.start()
        return inf

    @property
    def informers(self) -> list[informer_mod.Informer]:
        return list(self._informers.values())

    def add_index(self, kind: Any, name: str, func: store_mod.IndexFunc) -> None:
        """Register an index on a kind's store (before or after start)."""
        self.informer(kind).store.add_index(name, func)

    def index_field(self, kind: Any, path: str) -> str:
        """Index ``kind`` on a dotted field path; returns the index name (the path)."""
        store = self.informer(kind).store
        if not store.has_index(path):
            store.add_index(path, store_mod.field_index(path))
        return path

    def index_label(self, kind: Any, key: str) -> str:
        """Index ``kind`` on the value of label ``key``; returns the index name, for
        ``list(kind, namespace, index=(name, value))``: the objects carrying ``key=value``
        found directly, where a ``label_selector`` would copy and test every object in
        the namespace."""
        name = f"label:{key}"
        store = self.informer(kind).store
        if not store.has_index(name):
            store.add_index(name, store_mod.label_index(key))
        return name

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        for inf in self._informers.values():
            inf.start()

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))

    @property
    def synced(self) -> bool:
        return all(inf.has_synced for inf in self._informers.values())

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(inf.wait_synced() for inf in self._informers.values()))

    # -- reads -----------------------------------------------------------------------------

    async def _synced_informer(self, kind: Any) -> informer_mod.Informer:
        inf = self.informer(kind)
        if not inf.has_synced:
            if not self._started:
                raise RuntimeError(f"cache read of {inf.kind} before the cache was started")
            try:
                await inf.wait_synced(self.read_timeout)
            except TimeoutError:
                why = f": {inf.last_error}" if inf.last_error is not None else ""
                raise CacheNotSynced(
                    f"{inf.kind} is not in the cache after {self.read_timeout}s "
                    f"(is the kind served, may we list and watch it?){why}"
                ) from inf.last_error
        return inf

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> Any:
        """The cached object; :class:`~pilothouse.client.errors.NotFound` if there is none
        (the same error a live read raises, so code can switch between them). As
        :meth:`Client.get <pilothouse.client.client.Client.get>`, a namespaced kind read
        without ``namespace`` is looked up in the cache's namespace, else the client's."""
        inf = await self._synced_informer(kind)
        if inf.kind.namespaced:
            namespace = namespace or self.namespace or self.client.namespace
        obj = inf.store.get(store_mod.make_key(namespace if inf.kind.namespaced else None, name))
        if obj is None:
            raise errors.NotFound(
                {"reason": "NotFound", "message": f'{inf.kind} "{name}" not found'}, 404
            )
        return typed.decode(kind, obj)

    async def try_get(self, kind: Any, name: str, namespace: str | None = None) -> Any | None:
        try:
            return await self.get(kind, name, namespace)
        except errors.NotFound:
            return None

    async def list(
        self,
        kind: Any,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        index: tuple[str, str] | None = None,
    ) -> builtins.list[Any]:
        """Cached objects of ``kind``: in ``namespace`` (all when None), matching the label
        selector (a string or an equality dict), filed under ``index`` = (name, value)."""
        inf = await self._synced_informer(kind)
        st = inf.store
        if index is not None:
            candidates = st.by_index(*index)
            if namespace:
                candidates = [o for o in candidates if _ns(o) == namespace]
        elif namespace and inf.kind.namespaced:
            candidates = st.by_index(store_mod.BY_NAMESPACE, namespace)
        else:
            candidates = list(st.values())
        if label_selector is not None:
            sel = (
                labels.parse(label_selector)
                if isinstance(label_selector, str)
                else labels.from_label_selector({"matchLabels": dict(label_selector)})
            )
            candidates = [
                o for o in candidates if sel.matches((o.get("metadata") or {}).get("labels"))
            ]
        if isinstance(kind, kinds.Kind):
            return candidates
        return [typed.decode(kind, o) for o in candidates]

    async def owned_by(self, kind: Any, owner_uid: str) -> builtins.list[Any]:
        """Cached objects of ``kind`` with an ownerReference to ``owner_uid``."""
        return await self.list(kind, index=(store_mod.BY_OWNER, owner_uid))


def _ns(obj: Obj) -> str | None:
    ns = (obj.get("metadata") or {}).get("namespace")
    return str(ns) if ns else None
