"""Pruning: drop the fields a schema does not declare, and say which ones were dropped.

This is ``structural/pruning.PruneWithOptions`` for custom resources, and also what Go's
JSON decoder does to built-in objects (it silently ignores unknown fields). Either way the
caller gets the dropped paths, sorted, in the server's notation (``spec.foo``,
``spec.items[0].bar``, ``metadata.foo``): ``fieldValidation=Strict`` turns them into
``strict decoding error: unknown field "spec.foo"``, ``Warn`` into warning headers.

Rules, as in the real algorithm:

* ``x-kubernetes-preserve-unknown-fields`` keeps unknown fields at that node, but declared
  properties below it are still pruned;
* at a resource root (``is_root``) and in ``x-kubernetes-embedded-resource`` objects,
  ``apiVersion`` and ``kind`` are kept as they are and ``metadata`` is pruned to the
  ObjectMeta fields (the server decodes it into ObjectMeta);
* an object with neither ``properties`` nor ``additionalProperties`` keeps nothing in a
  structural (CRD) schema, but is a free-form value (RawExtension, FieldsV1...) in the
  JSON-schema style definitions of built-in kinds, recognisable by their list-valued
  ``type``; untyped built-in definitions are free-form too;
* values under an unknown schema lose all their object fields.

Pruning mutates ``obj`` in place; it never raises on odd input (it is fed raw request
bodies before validation).

Design choices (this runs on every write, so it is built for objects with nothing to prune):

* what the walk needs to know about a schema node (free-form or not, embedded resource,
  declared properties, additional properties, items) is computed once into a
  :class:`_Pruner`; pruners hang off their parent, and root pruners are kept in a small
  cache keyed by the root :class:`~pilothouse.apiserver.schemas.SchemaNode`;
* scalars are never visited, and paths are carried as
  :data:`~pilothouse.apiserver.structural.gorender.LazyPath` and rendered only for fields
  that are actually dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pilothouse.apiserver import schemas
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.gorender import LazyPath, render_path

__all__ = ["prune"]

_META_FIELDS = ("apiVersion", "kind", "metadata")
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def prune(obj: Any, schema: SchemaNode | None, is_root: bool = True) -> list[str]:
    """Remove unknown fields from ``obj`` in place; return their paths, sorted."""
    pruned: list[str] = []
    if isinstance(obj, dict | list):
        p = _root(schema)
        _walk(obj, p, None, pruned, is_root or p.embedded, p.keep)
    return sorted(pruned)


def _free_form(node: SchemaNode) -> bool:
    """A node whose unknown content is kept: preserve-unknown-fields, or a built-in
    free-form definition (see the module docstring)."""
    raw = node.raw
    if node.preserve_unknown_fields:
        return True
    shaped = ("properties", "additionalProperties", "items", "oneOf", "anyOf")
    if raw.get("x-kubernetes-int-or-string") or any(k in raw for k in shaped):
        return False
    t = raw.get("type")
    return t is None or (isinstance(t, list) and "object" in t)


_UNSET: Any = object()


class _Children(dict[str, "_Pruner"]):
    """The pruners of an object's declared properties, built on first use."""

    def __init__(self, build: Callable[[str], _Pruner]) -> None:
        super().__init__()
        self.build = build

    def __missing__(self, name: str) -> _Pruner:
        pruner = self[name] = self.build(name)
        return pruner


class _Pruner:
    """How values under one schema node (``None``: an unknown schema) are pruned."""

    __slots__ = ("_ap", "_items", "any_ap", "children", "embedded", "keep", "node", "props")

    def __init__(self, node: SchemaNode | None) -> None:
        self.node = node
        self.keep = node is not None and _free_form(node)
        self.embedded = node is not None and node.embedded_resource
        self.props = node.properties if node is not None else {}
        self.children = _Children(self._child)
        ap = node.additional_properties() if node is not None else None
        self.any_ap = ap is not None or (
            node is not None and node.raw.get("additionalProperties") is True
        )
        self._ap: _Pruner = _UNSET
        self._items: _Pruner | None = _UNSET

    def _child(self, name: str) -> _Pruner:
        assert self.node is not None  # only declared properties have children
        return _Pruner(self.node.field(name))

    def additional(self) -> _Pruner:
        """The pruner of undeclared fields when :attr:`any_ap`."""
        if self._ap is _UNSET:
            ap = self.node.additional_properties() if self.node is not None else None
            self._ap = _Pruner(ap) if ap is not None else _UNKNOWN
        return self._ap

    def items(self) -> _Pruner | None:
        """The pruner of array items, None if the schema declares none."""
        if self._items is _UNSET:
            items = self.node.items() if self.node is not None else None
            self._items = _Pruner(items) if items is not None else None
        return self._items


_UNKNOWN = _Pruner(None)
_ROOTS: dict[SchemaNode, _Pruner] = {}
_MAX_ROOTS = 256


def _root(schema: SchemaNode | None) -> _Pruner:
    if schema is None:
        return _UNKNOWN
    root = _ROOTS.get(schema)
    if root is None:
        if len(_ROOTS) >= _MAX_ROOTS:  # roots are few; a full cache means throwaway schemas
            _ROOTS.clear()
        root = _ROOTS[schema] = _Pruner(schema)
    return root


@functools.cache
def _object_meta() -> _Pruner:
    return _Pruner(schemas.definition(_OBJECT_META))


def _walk(
    obj: dict[str, Any] | list[Any],
    p: _Pruner,
    path: LazyPath,
    out: list[str],
    embedded: bool,
    keep: bool,
) -> None:
    """Prune ``obj`` (an object or array) under pruner ``p``; ``keep`` keeps its unknown
    fields, ``embedded`` treats its ``apiVersion``/``kind``/``metadata`` as a resource's."""
    if isinstance(obj, dict):
        props = p.props
        if not props and p.any_ap and not embedded:  # a map: nothing to drop at this level
            for k, v in obj.items():
                if isinstance(v, dict | list):
                    c = p.additional()
                    _walk(v, c, (path, ".", k), out, c.embedded, c.keep)
            return
        for k in list(obj):
            v = obj[k]
            if embedded and k in _META_FIELDS:
                if k == "metadata" and isinstance(v, dict | list):
                    meta = _object_meta()
                    _walk(v, meta, (path, ".", k), out, meta.embedded, meta.keep)
            elif k in props:
                if isinstance(v, dict | list):
                    c = p.children[k]
                    _walk(v, c, (path, ".", k), out, c.embedded, c.keep)
            elif p.any_ap:
                if isinstance(v, dict | list):
                    c = p.additional()
                    _walk(v, c, (path, ".", k), out, c.embedded, c.keep)
            elif not keep:
                # Undeclared top-level apiVersion/kind/metadata go silently: the server
                # owns them. Anything else is reported.
                if k not in _META_FIELDS or path is not None:
                    out.append(render_path((path, ".", k)) or "")
                del obj[k]
    else:
        # Below preserve-unknown-fields (``keep``), array items keep their unknown fields
        # too (the Go algorithm's skipPrune recurses into items in the same mode), and
        # without an items schema there is nothing to walk.
        items = p.items()
        if keep and items is None:
            return
        c = items if items is not None else _UNKNOWN
        for i, v in enumerate(obj):
            if isinstance(v, dict | list):
                _walk(v, c, (path, "[", i), out, c.embedded, keep or c.keep)
