"""How server-side apply reads a schema, and the fields an object sets under it.

This mirrors the schema side of ``sigs.k8s.io/structured-merge-diff`` (``schema`` and
``typed.ToFieldSet``):

* :class:`TypeView` is how SSA reads a :class:`SchemaNode`: granular or atomic maps, list
  types (``atomic``/``set``/``map``, falling back to the strategic-merge
  ``patch-strategy: merge`` + ``patch-merge-key`` as kube-openapi's ``schemaconv`` does), and
  the "deduced" type for unknown content (maps granular, lists atomic);
* :func:`fields_of` is ``ToFieldSet``: scalars and atomic containers are members, map-list
  and set-list items are members themselves, and so are the keys of maps that are not
  declared struct fields (``labels.app``); a declared struct field is only a parent;
* :func:`index_list`, :func:`is_empty` and :data:`MISSING` are the value helpers the
  comparison and merge walkers share.

Every write walks the same schemas, so a view works its answers out once: the kind, the
list type and the element and field views of a node are memoised on the view, and the
view of a root schema is kept per :class:`SchemaNode` (:func:`as_type`).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from pilothouse.apiserver.apply.fieldpath import FieldSet, PathElement
from pilothouse.apiserver.schemas import SchemaNode, definition


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: "No value at all", as opposed to an explicit JSON null.
MISSING: Final = _Missing()

_META_DEF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_ALWAYS_DECLARED: Final = frozenset({"apiVersion", "kind"})
# Built-in key defaults that SSA uses for map-list items omitting a key; the published
# OpenAPI carries them as ``default`` but the schema bundle we read has them stripped.
_KEY_DEFAULTS: Final[dict[tuple[str, ...], dict[str, Any]]] = {
    ("containerPort", "protocol"): {"protocol": "TCP"},
    ("port", "protocol"): {"protocol": "TCP"},
}
_NO_DEFAULT: Final = object()
# Root views kept per schema node (built-in roots live forever anyway; CRD roots are
# replaced when a CRD changes, hence the bound).
_ROOT_VIEWS: Final = 512

#: (type, declared as a struct field?, allowed at all?), as :meth:`TypeView.child` answers.
Child = tuple["TypeView", bool, bool]


class TypeView:
    """How server-side apply sees a schema node; ``TypeView(None)`` is the deduced type."""

    __slots__ = (
        "_element",
        "_fields",
        "_granular_list",
        "_granular_map",
        "_list_kind",
        "_other",
        "_other_known",
        "kind",
        "map_atomic",
        "node",
    )

    def __init__(self, node: SchemaNode | None) -> None:
        # A node with no usable type (e.g. only preserve-unknown-fields) is "deduced".
        typed = node is not None and (node.type is not None or node.int_or_string)
        self.node = node if typed else None
        #: ``map``, ``list``, ``scalar`` or ``any`` (deduced: decided by the value).
        self.kind = _kind_of(self.node)
        self.map_atomic = self.node is not None and self.node.map_type == "atomic"
        self._list_kind = _list_kind_of(self.node) if self.kind == "list" else ("atomic", ())
        self._granular_map = self.kind in ("map", "any") and not self.map_atomic
        self._granular_list = self.kind == "list" and self._list_kind[0] != "atomic"
        self._element: TypeView | None = None
        self._fields: dict[str, Child] = {}
        self._other: Child | None = None  # None: the answer depends on the name
        self._other_known = False

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
        if isinstance(value, dict) or value is None:
            if self._granular_map:
                return "map"
            if value is None and self._granular_list:
                return "list"
            return "leaf"
        if isinstance(value, list) and self._granular_list:
            return "list"
        return "leaf"

    def child(self, name: str) -> Child:
        """(type of field ``name``, declared as a struct field?, allowed at all?)."""
        found = self._fields.get(name)
        if found is not None:
            return found
        node = self.node
        if node is None or self.kind != "map":
            return _DEDUCED_CHILD
        if name in node.properties:
            found = self._fields[name] = (TypeView(node.field(name)), True, True)
            return found
        if not self._other_known:
            self._other, self._other_known = self._undeclared(node), True
        if self._other is not None:
            return self._other
        if name in _ALWAYS_DECLARED:
            return _DEDUCED_DECLARED
        if node.embedded_resource and name == "metadata":
            found = self._fields[name] = (TypeView(definition(_META_DEF)), True, True)
            return found
        return _NOT_ALLOWED

    @staticmethod
    def _undeclared(node: SchemaNode) -> Child | None:
        """The answer for every undeclared field, or None if it depends on the name."""
        extra = node.raw.get("additionalProperties")
        if isinstance(extra, Mapping):
            return (TypeView(node.additional_properties()), False, True)
        if extra is True or node.preserve_unknown_fields or not node.properties:
            return _DEDUCED_CHILD
        return None

    def element(self) -> TypeView:
        elem = self._element
        if elem is None:
            node = self.node
            if node is None or self.kind != "list":
                elem = _DEDUCED
            else:
                elem = TypeView(node.items())
            self._element = elem
        return elem

    def list_kind(self) -> tuple[str, tuple[str, ...]]:
        """(``atomic``|``set``|``map``, map keys), as kube-openapi's schemaconv decides."""
        return self._list_kind

    def key_default(self, key: str) -> Any:
        elem = self.element().node
        if elem is not None:
            prop = elem.properties.get(key)
            if isinstance(prop, Mapping) and "default" in prop:
                return prop["default"]
        return _KEY_DEFAULTS.get(self._list_kind[1], {}).get(key, _NO_DEFAULT)

    def item_element(self, item: Any, index: int) -> PathElement | str:
        """The path element of a list item, or the real server's error text."""
        kind, keys = self._list_kind
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


def _kind_of(node: SchemaNode | None) -> str:
    if node is None:
        return "any"
    if node.int_or_string:
        return "scalar"
    t = node.type
    return "map" if t == "object" else "list" if t == "array" else "scalar"


def _list_kind_of(node: SchemaNode | None) -> tuple[str, tuple[str, ...]]:
    if node is None:
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


_DEDUCED: Final = TypeView(None)
_DEDUCED_CHILD: Final[Child] = (_DEDUCED, False, True)
_DEDUCED_DECLARED: Final[Child] = (_DEDUCED, True, True)
_NOT_ALLOWED: Final[Child] = (_DEDUCED, False, False)


@functools.lru_cache(maxsize=_ROOT_VIEWS)
def _root_view(node: SchemaNode) -> TypeView:
    return TypeView(node)


def as_type(schema: SchemaNode | TypeView | None) -> TypeView:
    """The view of ``schema``; one shared (memoising) view per schema node."""
    if isinstance(schema, TypeView):
        return schema
    return _DEDUCED if schema is None else _root_view(schema)


# -- values ----------------------------------------------------------------------------------


def is_empty(v: Any) -> bool:
    """Absent, null, ``{}`` or ``[]``: what SSA compares and merges as a leaf."""
    return v is MISSING or v is None or v == {} or v == []


def index_list(items: Any, tv: TypeView) -> dict[PathElement, Any]:
    """Items of a granular list by path element; later duplicates and unkeyable items are
    ignored, as the real comparison does."""
    out: dict[PathElement, Any] = {}
    if isinstance(items, list):
        for i, item in enumerate(items):
            pe = tv.item_element(item, i)
            if isinstance(pe, PathElement) and pe not in out:
                out[pe] = item
    return out


# -- object -> field set ---------------------------------------------------------------------


def fields_of(obj: Any, schema: SchemaNode | TypeView | None) -> FieldSet:
    """The fields an object sets (``ToFieldSet``). Items whose key cannot be computed are
    skipped; items duplicated in the list count as atomic (the item, not its fields)."""
    members: set[PathElement] = set()
    children: dict[PathElement, FieldSet] = {}
    _collect(obj, as_type(schema), members, children)
    return FieldSet.adopt(members, children)


def _collect(
    value: Any, tv: TypeView, members: set[PathElement], children: dict[PathElement, FieldSet]
) -> None:
    """Add what ``value`` sets below its own path: ``members`` and ``children`` are that
    path's node. (Whether the path itself is a member is the caller's business.)"""
    shape = tv.shape(value)
    if shape == "map" and isinstance(value, dict):
        for name, child in value.items():
            pe = PathElement.field(name)
            if child is not None and not isinstance(child, dict | list):
                members.add(pe)  # a scalar: a leaf whatever the type says
                continue
            ctv, declared, _ = tv.child(name)
            if _subtree(child, ctv, pe, children) or not declared:
                members.add(pe)
    elif shape == "list" and isinstance(value, list):
        elem = tv.element()
        items = [tv.item_element(item, i) for i, item in enumerate(value)]
        counts = Counter(ipe for ipe in items if isinstance(ipe, PathElement))
        for item, ipe in zip(value, items, strict=True):
            if isinstance(ipe, PathElement):
                if counts[ipe] == 1:
                    _subtree(item, elem, ipe, children)
                members.add(ipe)


def _subtree(
    value: Any, tv: TypeView, pe: PathElement, children: dict[PathElement, FieldSet]
) -> bool:
    """Collect ``value`` at ``pe`` below a node; True if the path itself is a member
    (``value`` is a leaf)."""
    if tv.shape(value) == "leaf":
        return True
    members: set[PathElement] = set()
    below: dict[PathElement, FieldSet] = {}
    _collect(value, tv, members, below)
    if members or below:
        existing = children.get(pe)
        sub = FieldSet.adopt(members, below)
        children[pe] = sub if existing is None else existing.union(sub)
    return False


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


# -- applied configuration -> field set, checked -----------------------------------------------


# A tuple, not ``dict | list``: isinstance checks a union type markedly slower.
_CONTAINERS: Final = (dict, list)


def applied_fields(obj: Any, schema: SchemaNode | TypeView | None) -> FieldSet | None:
    """:func:`fields_of` of an applied configuration, checking it against the schema in the
    same walk; None if the configuration breaks it (an undeclared field, or a list item that
    is unkeyable or duplicated), and the caller walks again for the real server's messages.

    Server-side apply used to walk every applied object twice -- once for the schema check,
    once for the field set -- and both walks are a large share of a create's CPU."""
    members: set[PathElement] = set()
    children: dict[PathElement, FieldSet] = {}
    if not _check_collect(obj, as_type(schema), members, children):
        return None
    return FieldSet.adopt(members, children)


def _check_collect(
    value: Any,
    tv: TypeView,
    members: set[PathElement] | None,
    children: dict[PathElement, FieldSet] | None,
) -> bool:
    """The apply schema check (every container the type can walk into, atomic ones too) with
    :func:`_collect` (granular containers only) where ``members``/``children`` are given;
    False at the first violation. Without violations no item is duplicated or unkeyable,
    which is all that tells the collection here from :func:`_collect`'s."""
    kind = tv.kind
    if isinstance(value, dict):
        if kind != "map" and kind != "any":
            return True
        collect_map = members is not None and tv._granular_map
        for name, child in value.items():
            ctv, declared, allowed = tv.child(name)
            if not allowed:
                return False
            nested = isinstance(child, _CONTAINERS)
            if not collect_map:
                if nested and not _check_collect(child, ctv, None, None):
                    return False
                continue
            assert members is not None and children is not None
            pe = PathElement.field(name)
            if not nested and child is not None:
                members.add(pe)  # a scalar: a leaf whatever the type says
            elif ctv.shape(child) == "leaf":
                members.add(pe)
                if nested and not _check_collect(child, ctv, None, None):
                    return False
            else:
                if not _check_below(child, ctv, pe, children):
                    return False
                if not declared:
                    members.add(pe)
    elif isinstance(value, list):
        if kind != "list" and kind != "any":
            return True
        collect_list = members is not None and tv._granular_list
        elem = tv.element()
        seen: set[PathElement] = set()
        for i, item in enumerate(value):
            ipe = tv.item_element(item, i)
            if isinstance(ipe, str) or ipe in seen:
                return False
            seen.add(ipe)
            if not isinstance(item, _CONTAINERS):
                if collect_list and members is not None:
                    members.add(ipe)
                continue  # nothing to check or collect below a scalar (or null)
            if not collect_list:
                if not _check_collect(item, elem, None, None):
                    return False
                continue
            assert members is not None and children is not None
            members.add(ipe)
            if elem.shape(item) == "leaf":
                if not _check_collect(item, elem, None, None):
                    return False
            elif not _check_below(item, elem, ipe, children):
                return False
    return True


def _check_below(
    value: Any, tv: TypeView, pe: PathElement, children: dict[PathElement, FieldSet]
) -> bool:
    """:func:`_subtree` below a granular container, for :func:`_check_collect`."""
    members: set[PathElement] = set()
    below: dict[PathElement, FieldSet] = {}
    if not _check_collect(value, tv, members, below):
        return False
    if members or below:
        children[pe] = FieldSet.adopt(members, below)
    return True
