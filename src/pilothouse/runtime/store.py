"""The in-memory object store behind an informer, with indexes.

Objects are kept keyed ``namespace/name`` (``name`` for cluster-scoped objects) as compact
JSON bytes, not as the dicts the watch delivered: a 1 KB ConfigMap costs about 1 KB here
instead of the 3-4 KB of its decoded dicts, which is what lets a manager cache tens of
thousands of objects in a small container. Every read decodes (orjson, a few microseconds
for such an object), so **every read returns a private copy** the caller may change
freely -- the guarantee controller-runtime's cache gives by deep-copying.

Two indexes always exist -- :data:`BY_NAMESPACE` and
:data:`BY_OWNER` (the uid of every ownerReference) -- and an operator may register more
(``spec.clusterRef`` → objects that name a cluster). Index functions return the values an
object is filed under; lookups are O(matches), updates O(index values of the object).

Index values and the resourceVersion are computed when an object is stored, so lookups and
staleness checks never decode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

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


def label_index(key: str) -> IndexFunc:
    """An index on the value of label ``key`` (label keys may contain dots, which
    :func:`field_index` paths cannot); objects without the label are filed under nothing."""

    def index(obj: Obj) -> Iterable[str]:
        value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
        return (value,) if isinstance(value, str) else ()

    return index


class Store:
    """Objects by key plus named indexes. Not thread-safe: one event loop owns it."""

    def __init__(self) -> None:
        # key -> (resourceVersion, JSON bytes)
        self._items: dict[str, tuple[str, bytes]] = {}
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
        """A private copy of the stored object, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        obj: Obj = orjson.loads(item[1])
        return obj

    def resource_version(self, key: str) -> str | None:
        """The stored object's resourceVersion, without decoding it."""
        item = self._items.get(key)
        return item[0] if item is not None else None

    def all_keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> Iterator[Obj]:
        """Private copies of every object (decoded one at a time)."""
        for _, raw in list(self._items.values()):
            obj: Obj = orjson.loads(raw)
            yield obj

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Register an index; existing objects are filed at once."""
        if name in self._funcs:
            if self._funcs[name] is func:
                return
            raise ValueError(f"index {name!r} already exists")
        self._funcs[name] = func
        table: dict[str, set[str]] = {}
        self._indexes[name] = table
        for key, (_, raw) in self._items.items():
            values = tuple(func(orjson.loads(raw)))
            self._filed.setdefault(key, {})[name] = values
            for v in values:
                table.setdefault(v, set()).add(key)

    def has_index(self, name: str) -> bool:
        return name in self._funcs

    def put(self, obj: Obj) -> None:
        """Insert or replace (the store keeps its own encoded copy)."""
        key = key_of(obj)
        rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        # orjson hands back its whole growth buffer (8 KB for a 1 KB object): copy into an
        # exact-size bytes object, or the compact store would cost more than the dicts.
        self._items[key] = (rv, bytes(memoryview(orjson.dumps(obj))))
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

    def remove(self, key: str) -> bool:
        """Forget ``key``; whether it was there."""
        item = self._items.pop(key, None)
        filed = self._filed.pop(key, None)
        if filed:
            for name, values in filed.items():
                table = self._indexes[name]
                for v in values:
                    self._unfile(table, v, key)
        return item is not None

    @staticmethod
    def _unfile(table: dict[str, set[str]], value: str, key: str) -> None:
        keys = table.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del table[value]

    def by_index(self, name: str, value: str) -> list[Obj]:
        """Private copies of the objects filed under ``value`` in index ``name``."""
        if name not in self._indexes:
            raise KeyError(f"no index {name!r}; register it with add_index first")
        keys = self._indexes[name].get(value, ())
        return [orjson.loads(self._items[k][1]) for k in keys]

    def index_keys(self, name: str, value: str) -> set[str]:
        return set(self._indexes[name].get(value, ()))
