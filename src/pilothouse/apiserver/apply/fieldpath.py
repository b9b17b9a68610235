"""Field paths, field sets and the ``fieldsV1`` wire format of server-side apply.

This mirrors ``sigs.k8s.io/structured-merge-diff`` (``fieldpath`` and ``typed.ToFieldSet``):

* a :class:`PathElement` is one step into an object: a field name (``f:replicas``), the keys
  of a map-list item (``k:{"name":"nginx"}``), the value of a set-list item (``v:"x"``) or a
  list index (``i:0``). Elements order as in the Go code (fields < keys < values < indexes,
  values by the cross-type order numbers < strings < bools < lists < maps < null) because
  that order decides the key order of serialized ``fieldsV1`` and of conflict messages;
* a :class:`FieldSet` is a tree: at each node the *members* (paths that are in the set) and
  the *children* (subtrees with members below). ``fieldsV1`` writes a member as ``{}`` and a
  path that is both a member and a parent as ``{".": {}, ...}``. Set algebra follows the Go
  semantics exactly, notably :meth:`FieldSet.difference` is *not* recursive (removing
  ``a`` keeps ``a.b``) while :meth:`FieldSet.recursive_difference` is;
* :class:`TypeView` is how SSA reads a :class:`SchemaNode`: granular or atomic maps, list
  types (``atomic``/``set``/``map``, falling back to the strategic-merge
  ``patch-strategy: merge`` + ``patch-merge-key`` as kube-openapi's ``schemaconv`` does), and
  the "deduced" type for unknown content (maps granular, lists atomic);
* :func:`fields_of` is ``ToFieldSet``: scalars and atomic containers are members, map-list
  and set-list items are members themselves, and so are the keys of maps that are not
  declared struct fields (``labels.app``); a declared struct field is only a parent.

Values are canonicalised (:func:`canonical`) so that ``1`` and ``1.0`` are the same path
element but ``1`` and ``true`` are not, which Python's own ``==`` would get wrong.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from pilothouse.apiserver.schemas import SchemaNode, definition

Path = tuple["PathElement", ...]

_RANK: Final = {"f": 0, "k": 1, "v": 2, "i": 3}


def canonical(value: Any) -> tuple[Any, ...]:
    """A hashable, totally ordered stand-in for a JSON value (structured-merge-diff order)."""
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
    return a is b or canonical(a) == canonical(b)


def _normalize_numbers(value: Any) -> Any:
    # Go prints integral floats without a fraction ("1", not "1.0").
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_normalize_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize_numbers(v) for k, v in value.items()}
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it: sorted map keys, HTML-escaped."""
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

    __slots__ = ("_sort", "kind", "raw")

    def __init__(self, kind: str, raw: Any, sort: tuple[Any, ...]) -> None:
        self.kind = kind
        self.raw = raw
        self._sort = sort

    @classmethod
    def field(cls, name: str) -> PathElement:
        return cls("f", name, (0, name))

    @classmethod
    def key(cls, fields: Mapping[str, Any]) -> PathElement:
        items = sorted(fields.items())
        return cls("k", dict(items), (1, tuple((n, canonical(v)) for n, v in items)))

    @classmethod
    def value(cls, value: Any) -> PathElement:
        return cls("v", value, (2, canonical(value)))

    @classmethod
    def index(cls, index: int) -> PathElement:
        return cls("i", index, (3, index))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self._sort == other._sort

    def __hash__(self) -> int:
        return hash(self._sort)

    def __lt__(self, other: PathElement) -> bool:
        return self._sort < other._sort

    def serialize(self) -> str:
        """The ``fieldsV1`` key: ``f:name``, ``k:{...}``, ``v:<json>`` or ``i:<n>``."""
        if self.kind == "f":
            return f"f:{self.raw}"
        if self.kind == "k":
            return "k:" + go_json(self.raw)
        if self.kind == "v":
            return "v:" + go_json(self.raw)
        return f"i:{self.raw}"

    @classmethod
    def parse(cls, text: str) -> PathElement:
        """Inverse of :meth:`serialize`; raises ValueError on malformed input."""
        if len(text) < 2 or text[1] != ":":
            raise ValueError(f"invalid path element {text!r}")
        kind, body = text[0], text[2:]
        if kind == "f":
            return cls.field(body)
        if kind == "i":
            return cls.index(int(body))
        try:
            decoded = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid path element {text!r}: {exc}") from exc
        if kind == "v":
            return cls.value(decoded)
        if kind == "k" and isinstance(decoded, dict):
            return cls.key(decoded)
        raise ValueError(f"invalid path element {text!r}")

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
        for pe in sorted(self._members):
            yield (*prefix, pe)
        for pe in sorted(self._children):
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
        out: dict[str, Any] = {}
        if include_self and not self.empty:
            out["."] = {}
        for pe in sorted(self._members | set(self._children)):
            sub = self._children.get(pe)
            out[pe.serialize()] = {} if sub is None else sub._emit(pe in self._members)
        return out

    @classmethod
    def from_fields_v1(cls, data: Mapping[str, Any]) -> FieldSet:
        """Parse a ``fieldsV1`` object; raises ValueError if it is not one."""
        out, _ = cls._read(data)
        return out

    @classmethod
    def _read(cls, data: Mapping[str, Any]) -> tuple[FieldSet, bool]:
        if not isinstance(data, Mapping):
            raise ValueError(f"fieldsV1 node must be an object, got {type(data).__name__}")
        out, is_member = cls(), False
        for text, sub in data.items():
            if text == ".":
                is_member = True
                continue
            pe = PathElement.parse(text)
            child, child_member = cls._read(sub)
            if child_member or not sub:
                out._members.add(pe)
            if not child.empty:
                out._children[pe] = child
        return out, is_member


# -- schema view ------------------------------------------------------------------------------

_META_DEF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_ALWAYS_DECLARED: Final = frozenset({"apiVersion", "kind"})
# Built-in key defaults that SSA uses for map-list items omitting a key; the published
# OpenAPI carries them as ``default`` but the schema bundle we read has them stripped.
_KEY_DEFAULTS: Final[dict[tuple[str, ...], dict[str, Any]]] = {
    ("containerPort", "protocol"): {"protocol": "TCP"},
    ("port", "protocol"): {"protocol": "TCP"},
}
_NO_DEFAULT: Final = object()


class TypeView:
    """How server-side apply sees a schema node; ``TypeView(None)`` is the deduced type."""

    __slots__ = ("node",)

    def __init__(self, node: SchemaNode | None) -> None:
        # A node with no usable type (e.g. only preserve-unknown-fields) is "deduced".
        typed = node is not None and (node.type is not None or node.int_or_string)
        self.node = node if typed else None

    @property
    def kind(self) -> str:
        """``map``, ``list``, ``scalar`` or ``any`` (deduced: decided by the value)."""
        if self.node is None:
            return "any"
        if self.node.int_or_string:
            return "scalar"
        t = self.node.type
        return "map" if t == "object" else "list" if t == "array" else "scalar"

    def container(self, value: Any) -> str | None:
        """``map``/``list`` if the value is a container this type can walk into, else None."""
        k = self.kind
        if isinstance(value, dict) and k in ("map", "any"):
            return "map"
        if isinstance(value, list) and k in ("list", "any"):
            return "list"
        if value is None and k in ("map", "list"):
            return k
        if value is None and k == "any":
            return "map"
        return None

    def shape(self, value: Any) -> str:
        """``map``/``list`` for granular containers, ``leaf`` for scalars and atomic ones."""
        c = self.container(value)
        if c == "map" and not self.map_atomic:
            return "map"
        if c == "list" and self.list_kind()[0] != "atomic":
            return "list"
        return "leaf"

    @property
    def map_atomic(self) -> bool:
        return self.node is not None and self.node.map_type == "atomic"

    def child(self, name: str) -> tuple[TypeView, bool, bool]:
        """(type of field ``name``, declared as a struct field?, allowed at all?)."""
        node = self.node
        if node is None or self.kind != "map":
            return _DEDUCED, False, True
        props = node.properties
        if name in props:
            return TypeView(node.field(name)), True, True
        extra = node.raw.get("additionalProperties")
        if isinstance(extra, Mapping):
            return TypeView(node.additional_properties()), False, True
        if extra is True or node.preserve_unknown_fields or not props:
            return _DEDUCED, False, True
        if name in _ALWAYS_DECLARED:
            return _DEDUCED, True, True
        if node.embedded_resource and name == "metadata":
            return TypeView(definition(_META_DEF)), True, True
        return _DEDUCED, False, False

    def element(self) -> TypeView:
        if self.node is None or self.kind != "list":
            return _DEDUCED
        return TypeView(self.node.items())

    def list_kind(self) -> tuple[str, tuple[str, ...]]:
        """(``atomic``|``set``|``map``, map keys), as kube-openapi's schemaconv decides."""
        node = self.node
        if node is None or self.kind != "list":
            return "atomic", ()
        lt = node.list_type
        if lt == "set":
            return "set", ()
        if lt == "map":
            keys = node.list_map_keys
            return ("map", keys) if keys else ("atomic", ())
        if lt is not None:
            return "atomic", ()
        raw = node.raw.get("x-kubernetes-patch-strategy")
        if raw in ("merge", "merge,retainKeys"):
            key = node.patch_merge_key
            return ("map", (key,)) if key else ("set", ())
        return "atomic", ()

    def key_default(self, key: str) -> Any:
        elem = self.element().node
        if elem is not None:
            prop = elem.properties.get(key)
            if isinstance(prop, Mapping) and "default" in prop:
                return prop["default"]
        return _KEY_DEFAULTS.get(self.list_kind()[1], {}).get(key, _NO_DEFAULT)

    def item_element(self, item: Any, index: int) -> PathElement | str:
        """The path element of a list item, or the real server's error text."""
        kind, keys = self.list_kind()
        if kind == "map":
            if item is None:
                return "associative list with keys may not have a null element"
            if not isinstance(item, dict):
                return "associative list with keys may not have non-map elements"
            fields: dict[str, Any] = {}
            for k in keys:
                if k in item:
                    fields[k] = item[k]
                elif (d := self.key_default(k)) is not _NO_DEFAULT:
                    fields[k] = d
                else:
                    return (
                        "associative list with keys has an element that omits key field "
                        f'"{k}" (and doesn\'t have default value)'
                    )
            return PathElement.key(fields)
        if kind == "set":
            if isinstance(item, dict):
                return "associative list without keys has an element that's a map type"
            if isinstance(item, list):
                return "not supported: associative list with lists as elements"
            if item is None:
                return "associative list without keys has an element that's an explicit null"
            return PathElement.value(item)
        return PathElement.index(index)


_DEDUCED: Final = TypeView(None)


def as_type(schema: SchemaNode | TypeView | None) -> TypeView:
    return schema if isinstance(schema, TypeView) else TypeView(schema)


# -- object -> field set ---------------------------------------------------------------------


def fields_of(obj: Any, schema: SchemaNode | TypeView | None) -> FieldSet:
    """The fields an object sets (``ToFieldSet``). Items whose key cannot be computed are
    skipped; items duplicated in the list count as atomic (the item, not its fields)."""
    out = FieldSet()
    _collect(obj, as_type(schema), (), out)
    return out


def _collect(value: Any, tv: TypeView, path: Path, out: FieldSet) -> None:
    shape = tv.shape(value)
    if shape == "leaf":
        out._insert(path)
    elif shape == "map" and isinstance(value, dict):
        for name, child in value.items():
            ctv, declared, _ = tv.child(name)
            cpath = (*path, PathElement.field(name))
            _collect(child, ctv, cpath, out)
            if not declared:
                out._insert(cpath)
    elif shape == "list" and isinstance(value, list):
        elem = tv.element()
        pes = [tv.item_element(item, i) for i, item in enumerate(value)]
        counts = Counter(pe for pe in pes if isinstance(pe, PathElement))
        for item, pe in zip(value, pes, strict=True):
            if isinstance(pe, PathElement):
                if counts[pe] == 1:
                    _collect(item, elem, (*path, pe), out)
                out._insert((*path, pe))


def ensure_named_fields_are_members(fs: FieldSet, schema: SchemaNode | TypeView | None) -> FieldSet:
    """Add declared struct fields that have owned children as members themselves, so that
    pruning removes the whole field (``EnsureNamedFieldsAreMembers``)."""
    tv = as_type(schema)
    members = set(fs.members)
    children: dict[PathElement, FieldSet] = {}
    for pe, sub in fs.children.items():
        if pe.kind == "f" and tv.kind in ("map", "any"):
            ctv, declared, _ = tv.child(pe.raw)
            if declared and tv.kind == "map":
                members.add(pe)
        elif pe.kind == "k" and tv.kind in ("list", "any"):
            ctv = tv.element()
        else:
            ctv = _DEDUCED
        children[pe] = ensure_named_fields_are_members(sub, ctv)
    return FieldSet(members, children)
