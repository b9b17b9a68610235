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
"""

from __future__ import annotations

import functools
from typing import Any

from pilothouse.apiserver import schemas
from pilothouse.apiserver.schemas import SchemaNode

__all__ = ["prune"]

_META_FIELDS = ("apiVersion", "kind", "metadata")
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def _object_meta() -> SchemaNode:
    return schemas.definition(_OBJECT_META)


def prune(obj: Any, schema: SchemaNode | None, is_root: bool = True) -> list[str]:
    """Remove unknown fields from ``obj`` in place; return their paths, sorted."""
    pruned: list[str] = []
    _prune(obj, schema, None, pruned, root=is_root)
    return sorted(pruned)


def _join(path: str | None, name: str) -> str:
    return name if path is None else f"{path}.{name}"


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


def _prune(
    obj: Any, node: SchemaNode | None, path: str | None, out: list[str], root: bool = False
) -> None:
    keep = node is not None and _free_form(node)
    embedded = root or (node is not None and node.embedded_resource)
    _walk(obj, node, path, out, embedded, keep)


def _walk(
    obj: Any, node: SchemaNode | None, path: str | None, out: list[str], embedded: bool, keep: bool
) -> None:
    if isinstance(obj, dict):
        props = node.properties if node is not None else {}
        ap = node.additional_properties() if node is not None else None
        any_ap = ap is not None or (
            node is not None and node.raw.get("additionalProperties") is True
        )
        for k in list(obj):
            here = _join(path, k)
            if embedded and k in _META_FIELDS:
                if k == "metadata":
                    _prune(obj[k], _object_meta(), here, out)
                continue
            if node is not None and k in props:
                _prune(obj[k], node.field(k), here, out)
            elif any_ap:
                _prune(obj[k], ap, here, out)
            elif not keep:
                # Undeclared top-level apiVersion/kind/metadata go silently: the server
                # owns them. Anything else is reported.
                if k not in _META_FIELDS or path is not None:
                    out.append(here)
                del obj[k]
    elif isinstance(obj, list):
        items = node.items() if node is not None else None
        for i, v in enumerate(obj):
            here = f"{path or ''}[{i}]"
            if not keep:
                _prune(v, items, here, out)
            elif items is not None:
                # Below preserve-unknown-fields, array items keep their unknown fields too
                # (the Go algorithm's skipPrune recurses into items in the same mode).
                _walk(v, items, here, out, items.embedded_resource, keep=True)
