"""Defaulting: fill in the ``default`` values of a CRD schema, as the real server does.

kube-apiserver defaults a custom resource when it decodes one, both from a request and
from storage, so objects written before a default was added gain it on read. The steps are
those of ``structural/defaulting``:

1. ``PruneNonNullableNullsWithoutDefaults``: a ``null`` under a declared property that is
   neither nullable nor defaulted is removed (so ``spec.x: null`` means "unset");
2. ``Default``: every declared property that is absent, or null while not nullable, gets a
   deep copy of its ``default``; the same happens to null items of arrays and null values
   of ``additionalProperties`` maps; then the walk continues inside, including inside
   values that were just defaulted, so nested defaults apply too.

Only the structural spine (``properties``, ``additionalProperties``, ``items``) is followed,
never ``allOf``/``anyOf``/``oneOf``; a CRD cannot declare defaults inside metadata.

:func:`apply_defaults` mutates ``obj`` in place and returns it for convenience. Applying
it twice changes nothing the second time.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pilothouse.apiserver.schemas import SchemaNode

__all__ = ["apply_defaults"]


def apply_defaults(obj: Any, schema: SchemaNode | None) -> Any:
    """Apply the defaults of ``schema`` to ``obj`` (in place) and return ``obj``."""
    if schema is not None:
        _prune_nulls(obj, schema)
        if _declares_defaults(schema):
            _default(obj, schema)
    return obj


@functools.lru_cache(maxsize=512)
def _declares_defaults(root: SchemaNode) -> bool:
    """Whether any node on ``root``'s structural spine has a ``default``. Most schemas have
    none, and then :func:`_default` would walk the whole object to change nothing. Cached
    per root node (roots live as long as their CRD version is served). A spine deeper than
    :data:`_SPINE_LIMIT` (a ``$ref`` cycle) counts as "maybe": the full walk then decides."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if _has_default(node) or depth > _SPINE_LIMIT:
            return True
        children = [node.field(name) for name in node.properties]
        children += [node.additional_properties(), node.items()]
        stack.extend((c, depth + 1) for c in children if c is not None)
    return False


_SPINE_LIMIT = 64


def _nullable(node: SchemaNode) -> bool:
    t = node.raw.get("type")
    return bool(node.raw.get("nullable")) or (isinstance(t, list) and "null" in t)


def _has_default(node: SchemaNode | None) -> bool:
    return node is not None and node.raw.get("default") is not None


def _default_value(node: SchemaNode) -> Any:
    return copy.deepcopy(node.raw.get("default"))


def _null_to_default(value: Any, node: SchemaNode | None) -> bool:
    """``isNonNullableNull``: a null the default replaces."""
    return value is None and node is not None and not _nullable(node) and _has_default(node)


def _prune_nulls(obj: Any, node: SchemaNode | None) -> None:
    if node is None:
        return
    if isinstance(obj, dict):
        props = node.properties
        for k in [k for k in obj if k in props]:
            sub = node.field(k)
            if sub is None:
                continue
            if obj[k] is None and not _nullable(sub) and not _has_default(sub):
                del obj[k]
            else:
                _prune_nulls(obj[k], sub)
    elif isinstance(obj, list):
        items = node.items()
        for v in obj:
            _prune_nulls(v, items)


def _default(obj: Any, node: SchemaNode | None) -> None:
    if node is None:
        return
    if isinstance(obj, dict):
        for name in node.properties:
            sub = node.field(name)
            missing = name not in obj or _null_to_default(obj[name], sub)
            if sub is not None and _has_default(sub) and missing:
                obj[name] = _default_value(sub)
        ap = node.additional_properties()
        for k in list(obj):
            if k in node.properties:
                _default(obj[k], node.field(k))
            elif ap is not None:
                if _null_to_default(obj[k], ap):
                    obj[k] = _default_value(ap)
                _default(obj[k], ap)
    elif isinstance(obj, list):
        items = node.items()
        for i, v in enumerate(obj):
            if items is not None and _null_to_default(v, items):
                obj[i] = _default_value(items)
            _default(obj[i], items)
