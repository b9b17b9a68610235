"""Field paths, field sets and the ``fieldsV1`` wire format of server-side apply.

This mirrors ``sigs.k8s.io/structured-merge-diff``'s ``fieldpath`` package:

* a :class:`PathElement` is one step into an object: a field name (``f:replicas``), the keys
  of a map-list item (``k:{"name":"nginx"}``), the value of a set-list item (``v:"x"``) or a
  list index (``i:0``). Elements order as in the Go code (fields < keys < values < indexes,
  values by the cross-type order numbers < strings < bools < lists < maps < null) because
  that order decides the key order of serialized ``fieldsV1`` and of conflict messages;
* a :class:`FieldSet` is a tree: at each node the *members* (paths that are in the set) and
  the *children* (subtrees with members below). ``fieldsV1`` writes a member as ``{}`` and a
  path that is both a member and a parent as ``{".": {}, ...}``. Set algebra follows the Go
  semantics exactly, notably :meth:`FieldSet.difference` is *not* recursive (removing
  ``a`` keeps ``a.b``) while :meth:`FieldSet.recursive_difference` is.

Values are canonicalised (:func:`canonical`) so that ``1`` and ``1.0`` are the same path
element but ``1`` and ``true`` are not, which Python's own ``==`` would get wrong. How a
schema turns an object into a field set lives in :mod:`~pilothouse.apiserver.apply.typed`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from operator import attrgetter
from typing import Any, Final

Path = tuple["PathElement", ...]


def canonical(value: Any) -> tuple[Any, ...]:
    """A hashable, totally ordered stand-in for a JSON value (structured-merge-diff order)."""
    if type(value) is str:  # the common case (list-map keys, set items), first
        return (1, value)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    if value is None:
        return (5, 0)
    raise TypeError(f"not a JSON value: {value!r}")


def values_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality where bools are not numbers and ``1 == 1.0``."""
    if type(a) is dict and type(b) is dict and len(a) != len(b):
        # Maps of different sizes never match (their canonical forms differ in length):
        # answer at once rather than canonicalising both whole objects (every create
        # compares the new object with an empty one).
        return False
    return a is b or (a == b and same_value(a, b)) or canonical(a) == canonical(b)


_NUMBERS: Final = (int, float)


def same_value(a: Any, b: Any) -> bool:
    """A fast, conservative :func:`values_equal` for decoded JSON: True only for equal
    values made of plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``
    (bools never equal to numbers). False may still be equal (e.g. ``str`` subclasses)."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta is dict:
        if tb is not dict or len(a) != len(b):
            return False
        for k, v in a.items():
            w = b.get(k, _ABSENT)
            if w is _ABSENT or not same_value(v, w):
                return False
        return True
    if ta is list:
        return tb is list and len(a) == len(b) and all(map(same_value, a, b))
    if ta is str or ta is bool or a is None:
        return ta is tb and a == b
    return ta in _NUMBERS and tb in _NUMBERS and a == b


_ABSENT: Final = object()


def _normalize_numbers(value: Any) -> Any:
    # Go prints integral floats without a fraction ("1", not "1.0").
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_normalize_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize_numbers(v) for k, v in value.items()}
    return value


# Strings JSON writes as they are: printable ASCII without ``"``, ``\\`` or ``<>&`` (which
# Go escapes).
_PLAIN: Final = re.compile(r"[ !#-%'-;=?-\[\]-~]*")


def _flat_json(value: dict[Any, Any]) -> str | None:
    """:func:`go_json` of a flat map of plain strings and integers -- every list-map key
    of a write (``{"name":"app"}``, ``{"port":80,"protocol":"TCP"}``) -- built directly;
    None for anything else."""
    parts = []
    for k in value:
        if type(k) is not str or not _PLAIN.fullmatch(k):
            return None
    for k, v in sorted(value.items()):
        if type(v) is str and _PLAIN.fullmatch(v):
            parts.append(f'"{k}":"{v}"')
        elif type(v) is int:
            parts.append(f'"{k}":{v}')
        else:
            return None
    return "{" + ",".join(parts) + "}"


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it: sorted map keys, HTML-escaped."""
    if type(value) is dict and (flat := _flat_json(value)) is not None:
        return flat  # json.dumps costs several times as much; keys are written on every write
    text = json.dumps(
        _normalize_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _go_string(value: Any) -> str:
    """``value.ToString`` of structured-merge-diff, used in human-readable paths."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return go_json(value)


class PathElement:
    """One step of a field path. Build with :meth:`field`, :meth:`key`, :meth:`value`,
    :meth:`index`; ``raw`` holds the name, key dict, JSON value or index."""

    __slots__ = ("_hash", "_sort", "_text", "kind", "raw")

    def __init__(self, kind: str, raw: Any, sort: tuple[Any, ...]) -> None:
        self.kind = kind
        self.raw = raw
        self._sort = sort
        self._hash = hash(sort)
        self._text: str | None = None  # serialize(), once asked for

    @classmethod
    def field(cls, name: str) -> PathElement:
        # Elements are immutable, so field elements are shared: every write walks the
        # same few field names of its kind many times over.
        pe = _FIELD_ELEMENTS.get(name)
        if pe is None:
            pe = cls("f", name, (0, name))
            if len(_FIELD_ELEMENTS) < _FIELD_ELEMENTS_MAX and type(name) is str:
                _FIELD_ELEMENTS[name] = pe
        return pe

    @classmethod
    def key(cls, fields: Mapping[str, Any]) -> PathElement:
        items = sorted(fields.items()) if len(fields) > 1 else list(fields.items())
        return cls("k", dict(items), (1, tuple([(n, canonical(v)) for n, v in items])))

    @classmethod
    def value(cls, value: Any) -> PathElement:
        return cls("v", value, (2, canonical(value)))

    @classmethod
    def index(cls, index: int) -> PathElement:
        return cls("i", index, (3, index))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self._sort == other._sort

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: PathElement) -> bool:
        return self._sort < other._sort

    def serialize(self) -> str:
        """The ``fieldsV1`` key: ``f:name``, ``k:{...}``, ``v:<json>`` or ``i:<n>``."""
        text = self._text
        if text is None:
            if self.kind == "f":
                text = f"f:{self.raw}"
            elif self.kind == "k":
                text = "k:" + go_json(self.raw)
            elif self.kind == "v":
                text = "v:" + go_json(self.raw)
            else:
                text = f"i:{self.raw}"
            self._text = text
        return text

    @classmethod
    def parse(cls, text: str) -> PathElement:
        """Inverse of :meth:`serialize`; raises ValueError on malformed input. Elements
        are treated as immutable, so the same text may give back the same element."""
        return _parse_element(text)

    def __str__(self) -> str:
        if self.kind == "f":
            return f".{self.raw}"
        if self.kind == "k":
            return "[" + ",".join(f"{n}={_go_string(v)}" for n, v in self.raw.items()) + "]"
        if self.kind == "v":
            return f"[={_go_string(self.raw)}]"
        return f"[{self.raw}]"

    def __repr__(self) -> str:
        return f"PathElement({self.serialize()!r})"


_FIELD_ELEMENTS: Final[dict[str, PathElement]] = {}
_FIELD_ELEMENTS_MAX: Final = 65536

#: Sort key giving the same order as ``<`` on elements, without a Python-level comparison.
_ORDER: Final = attrgetter("_sort")


@functools.lru_cache(maxsize=4096)
def _parse_element(text: str) -> PathElement:
    # Cached: decoding managedFields on every write parses the same few keys again and again.
    if len(text) < 2 or text[1] != ":":
        raise ValueError(f"invalid path element {text!r}")
    kind, body = text[0], text[2:]
    if kind == "f":
        return PathElement.field(body)
    if kind == "i":
        return PathElement.index(int(body))
    try:
        decoded = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid path element {text!r}: {exc}") from exc
    if kind == "v":
        return PathElement.value(decoded)
    if kind == "k" and isinstance(decoded, dict):
        return PathElement.key(decoded)
    raise ValueError(f"invalid path element {text!r}")


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="nginx"].image``, as the real server prints."""
    return "".join(str(pe) for pe in path)


class FieldSet:
    """An immutable set of field paths (build with :meth:`from_paths` or :func:`fields_of`)."""

    __slots__ = ("_children", "_members")

    def __init__(
        self,
        members: Iterable[PathElement] = (),
        children: Mapping[PathElement, FieldSet] | None = None,
    ) -> None:
        self._members: set[PathElement] = set(members)
        # Invariant: no empty child, so emptiness and equality are structural.
        self._children: dict[PathElement, FieldSet] = {
            pe: c for pe, c in (children or {}).items() if not c.empty
        }

    @classmethod
    def adopt(cls, members: set[PathElement], children: dict[PathElement, FieldSet]) -> FieldSet:
        """A set built from ``members`` and ``children`` without copying or filtering them:
        for tree builders that hand both over and never put an empty child in."""
        out = cls.__new__(cls)
        out._members = members
        out._children = children
        return out

    @classmethod
    def from_paths(cls, paths: Iterable[Iterable[PathElement]]) -> FieldSet:
        out = cls()
        for p in paths:
            out._insert(tuple(p))
        return out

    def _insert(self, path: Path) -> None:
        # The empty path is the whole object, which nobody owns (as in the Go code).
        if not path:
            return
        node = self
        for pe in path[:-1]:
            nxt = node._children.get(pe)
            if nxt is None:
                nxt = node._children[pe] = FieldSet()
            node = nxt
        node._members.add(path[-1])

    # -- inspection ----------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return not self._members and not self._children

    @property
    def members(self) -> frozenset[PathElement]:
        return frozenset(self._members)

    @property
    def children(self) -> Mapping[PathElement, FieldSet]:
        return dict(self._children)

    def has_member(self, pe: PathElement) -> bool:
        return pe in self._members

    def child(self, pe: PathElement) -> FieldSet | None:
        return self._children.get(pe)

    def has(self, path: Iterable[PathElement]) -> bool:
        p = tuple(path)
        if not p:
            return False
        node: FieldSet | None = self
        for pe in p[:-1]:
            node = node._children.get(pe) if node is not None else None
        return node is not None and p[-1] in node._members

    def paths(self) -> Iterator[Path]:
        """Every member path, members of a node before its children, each in element order."""
        yield from self._iterate(())

    def _iterate(self, prefix: Path) -> Iterator[Path]:
        for pe in sorted(self._members, key=_ORDER):
            yield (*prefix, pe)
        for pe in sorted(self._children, key=_ORDER):
            yield from self._children[pe]._iterate((*prefix, pe))

    def __len__(self) -> int:
        return len(self._members) + sum(len(c) for c in self._children.values())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FieldSet)
            and self._members == other._members
            and self._children == other._children
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.paths()) + ")"

    # -- algebra (all return new sets) ------------------------------------------------------

    def union(self, other: FieldSet) -> FieldSet:
        children = dict(self._children)
        for pe, c in other._children.items():
            mine = children.get(pe)
            children[pe] = c if mine is None else mine.union(c)
        return FieldSet(self._members | other._members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        children = {
            pe: c.intersection(other._children[pe])
            for pe, c in self._children.items()
            if pe in other._children
        }
        return FieldSet(self._members & other._members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of self not in other; a member of other does not remove its subtree."""
        children = {
            pe: (c.difference(other._children[pe]) if pe in other._children else c)
            for pe, c in self._children.items()
        }
        return FieldSet(self._members - other._members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of other also removes everything below it."""
        children = {
            pe: (c.recursive_difference(other._children[pe]) if pe in other._children else c)
            for pe, c in self._children.items()
            if pe not in other._members
        }
        return FieldSet(self._members - other._members, children)

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    # -- wire format ----------------------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        """The ``fieldsV1`` object, keys in the order the real server writes them."""
        return self._emit(include_self=False)

    def _emit(self, include_self: bool) -> dict[str, Any]:
        members, children = self._members, self._children
        out: dict[str, Any] = {".": {}} if include_self and (members or children) else {}
        if not children:
            for pe in sorted(members, key=_ORDER):
                out[pe.serialize()] = {}
            return out
        for pe in sorted(members.union(children), key=_ORDER):
            sub = children.get(pe)
            out[pe.serialize()] = {} if sub is None else sub._emit(pe in members)
        return out

    @classmethod
    def from_fields_v1(cls, data: Mapping[str, Any]) -> FieldSet:
        """Parse a ``fieldsV1`` object; raises ValueError if it is not one."""
        out, _ = cls._read(data)
        return out

    @classmethod
    def _read(cls, data: Mapping[str, Any]) -> tuple[FieldSet, bool]:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ValueError(f"fieldsV1 node must be an object, got {type(data).__name__}")
        members: set[PathElement] = set()
        children: dict[PathElement, FieldSet] = {}
        is_member = False
        for text, sub in data.items():
            if text == ".":
                is_member = True
                continue
            pe = _parse_element(text)
            if type(sub) is dict and not sub:
                members.add(pe)  # the common leaf, ``{}``
                continue
            child, child_member = cls._read(sub)
            if child_member or not sub:
                members.add(pe)
            if not child.empty:
                children[pe] = child
        return cls.adopt(members, children), is_member
