"""The in-memory object store behind an informer, with indexes.

Objects are kept as the dicts the watch delivered, keyed ``namespace/name`` (``name`` for
cluster-scoped objects). Two indexes always exist -- :data:`BY_NAMESPACE` and
:data:`BY_OWNER` (the uid of every ownerReference) -- and an operator may register more
(``spec.clusterRef`` → objects that name a cluster). Index functions return the values an
object is filed under; lookups are O(matches), updates O(index values of the object).

Caveat: stored objects are shared, not copied (copying every read would double the cost of
every reconcile). Treat what the cache returns as read-only; ``copy.deepcopy`` before
changing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

Obj = dict[str, Any]
#: An index function: the values an object is filed under.
IndexFunc = Callable[[Obj], Iterable[str]]

BY_NAMESPACE = "namespace"
BY_OWNER = "owner"


def key_of(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def make_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _namespace_index(obj: Obj) -> Iterable[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return (ns,) if ns else ()


def _owner_index(obj: Obj) -> Iterable[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return [r["uid"] for r in refs if r.get("uid")]


def field_index(path: str) -> IndexFunc:
    """An index on a dotted field path (``spec.clusterRef`` or ``spec.cluster.name``);
    list values are filed under each element, missing fields under nothing."""
    parts = path.split(".")

    def index(obj: Obj) -> Iterable[str]:
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict):
                return ()
            value = value.get(part)
        if value is None:
            return ()
        if isinstance(value, list):
            return [str(v) for v in value if v is not None]
        return (str(value),)

    return index


class Store:
    """Objects by key plus named indexes. Not thread-safe: one event loop owns it."""

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._funcs: dict[str, IndexFunc] = {
            BY_NAMESPACE: _namespace_index,
            BY_OWNER: _owner_index,
        }
        # index name -> value -> keys; and key -> index name -> values (for removal).
        self._indexes: dict[str, dict[str, set[str]]] = {n: {} for n in self._funcs}
        self._filed: dict[str, dict[str, tuple[str, ...]]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def all_keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> Iterator[Obj]:
        return iter(self._items.values())

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Register an index; existing objects are filed at once."""
        if name in self._funcs:
            if self._funcs[name] is func:
                return
            raise ValueError(f"index {name!r} already exists")
        self._funcs[name] = func
        table: dict[str, set[str]] = {}
        self._indexes[name] = table
        for key, obj in self._items.items():
            values = tuple(func(obj))
            self._filed.setdefault(key, {})[name] = values
            for v in values:
                table.setdefault(v, set()).add(key)

    def has_index(self, name: str) -> bool:
        return name in self._funcs

    def put(self, obj: Obj) -> Obj | None:
        """Insert or replace; returns the previous object."""
        key = key_of(obj)
        old = self._items.get(key)
        self._items[key] = obj
        filed = self._filed.setdefault(key, {})
        for name, func in self._funcs.items():
            values = tuple(func(obj))
            before = filed.get(name, ())
            if values == before:
                continue
            table = self._indexes[name]
            for v in before:
                self._unfile(table, v, key)
            for v in values:
                table.setdefault(v, set()).add(key)
            filed[name] = values
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        filed = self._filed.pop(key, None)
        if filed:
            for name, values in filed.items():
                table = self._indexes[name]
                for v in values:
                    self._unfile(table, v, key)
        return old

    @staticmethod
    def _unfile(table: dict[str, set[str]], value: str, key: str) -> None:
        keys = table.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del table[value]

    def by_index(self, name: str, value: str) -> list[Obj]:
        if name not in self._indexes:
            raise KeyError(f"no index {name!r}; register it with add_index first")
        keys = self._indexes[name].get(value, ())
        return [self._items[k] for k in keys]

    def index_keys(self, name: str, value: str) -> set[str]:
        return set(self._indexes[name].get(value, ()))
