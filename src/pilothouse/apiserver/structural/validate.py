"""OpenAPI v3 validation of custom resources, worded exactly as kube-apiserver words it.

The real server validates a custom resource in three passes, and :func:`validate` returns
their causes in the same order:

1. embedded resources (``x-kubernetes-embedded-resource``) must carry a well-formed
   ``apiVersion`` and ``kind`` (``schema/objectmeta``);
2. kube-openapi's schema validator checks types, formats, bounds, counts and junctors
   (:mod:`.openapi_validator`, which also explains the peculiar wording);
3. ``x-kubernetes-list-type`` ``set``/``map`` uniqueness (``Duplicate value``).

:func:`validate_at` is pass 2 alone for a standalone value (a CRD ``default``).

Design choices:

* The ``metadata`` of a resource root is the standard ObjectMeta (``schemas.crd_schema``
  grafts it in); the metadata validator owns it, so every pass skips it here.
* List-type uniqueness compares values with Go's map-key semantics (``1`` and ``1.0``
  differ, compound values by their JSON encoding) and reports each repeated value once,
  at its second occurrence; a missing list-map key takes the key property's default.
* Built-in kinds are not validated against a schema: their decoder rejects wrong JSON
  types with a 400 first. :func:`validate_builtin_types` reproduces those decode errors;
  it lives in :mod:`.builtin_types` and is re-exported here for the write path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.builtin_types import validate_builtin_types
from pilothouse.apiserver.structural.formats import dns1035_errors
from pilothouse.apiserver.structural.gorender import child, field_error, go_json, index, key
from pilothouse.apiserver.structural.jsonvalues import json_kind
from pilothouse.apiserver.structural.openapi_validator import SchemaValidator

__all__ = ["validate", "validate_at", "validate_builtin_types"]


def validate(obj: Any, schema: SchemaNode, path: str = "") -> list[Cause]:
    """Validate a custom resource (or the value at ``path`` in one) against its schema.

    ``path`` is the JSON path of ``obj`` in the resource, ``""`` for the resource itself;
    it prefixes the returned fields and kube-openapi's messages alike.
    """
    root = path or None
    causes = _embedded(obj, schema, root, is_root=not path)
    causes += SchemaValidator(path, None, skip_root_meta=not path).run(obj, schema)
    causes += _list_types(obj, schema, root)
    return causes


def validate_at(obj: Any, schema: SchemaNode, field_path: str) -> list[Cause]:
    """kube-openapi validation of a standalone value (a CRD ``default``) reported under
    ``field_path``, as ``ValidateCustomResource(fldPath, ...)`` does: messages name the
    value's inner path (empty for the value itself) while fields get the prefix."""
    return SchemaValidator("", field_path, skip_root_meta=False).run(obj, schema)


# -- embedded resources --------------------------------------------------------------------


def _embedded(obj: Any, node: SchemaNode | None, path: str | None, is_root: bool) -> list[Cause]:
    if node is None:
        return []
    out: list[Cause] = []
    if isinstance(obj, dict):
        if node.embedded_resource and not is_root:
            out += _embedded_meta(obj, path)
        props, ap = node.properties, node.additional_properties()
        for k, v in obj.items():
            if is_root and k == "metadata":
                continue  # ObjectMeta has its own validation
            if k in props:
                out += _embedded(v, node.field(k), child(path, k), False)
            elif ap is not None:
                out += _embedded(v, ap, key(path, k), False)
    elif isinstance(obj, list):
        items = node.items()
        for i, v in enumerate(obj):
            out += _embedded(v, items, index(path, i), False)
    return out


def _embedded_meta(obj: Mapping[str, Any], path: str | None) -> list[Cause]:
    out = [
        field_error("FieldValueRequired", child(path, name), "must not be empty")
        for name in ("apiVersion", "kind")
        if name not in obj
    ]
    for name in ("apiVersion", "kind"):
        if name not in obj:
            continue
        v, fld = obj[name], child(path, name)
        if not isinstance(v, str):
            out.append(field_error("FieldValueInvalid", fld, "must be a string", v))
        elif not v:
            out.append(field_error("FieldValueInvalid", fld, "must not be empty", v))
        elif name == "apiVersion" and v.count("/") > 1:
            detail = f"unexpected GroupVersion string: {v}"
            out.append(field_error("FieldValueInvalid", fld, detail, v))
        elif name == "kind" and (problems := dns1035_errors(v.lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(problems)
            out.append(field_error("FieldValueInvalid", fld, detail, v))
    return out


# -- list types ----------------------------------------------------------------------------


def _token(v: Any) -> Any:
    """A hashable identity for a JSON value with Go's map-key semantics (``1`` and ``1.0``
    differ), compound values by their JSON encoding."""
    if isinstance(v, dict | list):
        return ("compound", go_json(v))
    return (json_kind(v), type(v).__name__, v)


def _second_occurrences(tokens: list[Any]) -> list[int]:
    counts: dict[Any, int] = {}
    out = []
    for i, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        if counts[t] == 2:  # the server reports each repeated value once
            out.append(i)
    return out


def _list_types(obj: Any, node: SchemaNode | None, path: str | None) -> list[Cause]:
    if node is None:
        return []
    out: list[Cause] = []
    if isinstance(obj, dict):
        props, ap = node.properties, node.additional_properties()
        for k, v in obj.items():
            if k in props and not (path is None and k == "metadata"):
                out += _list_types(v, node.field(k), child(path, k))
        if ap is not None:
            for k, v in obj.items():
                out += _list_types(v, ap, key(path, k))
    elif isinstance(obj, list):
        if node.list_type == "set":
            for i in _second_occurrences([_token(x) for x in obj]):
                out.append(field_error("FieldValueDuplicate", index(path, i), value=obj[i]))
        elif node.list_type == "map":
            out += _list_map(obj, node, path)
        items = node.items()
        for i, v in enumerate(obj):
            out += _list_types(v, items, index(path, i))
    return out


def _list_map(obj: list[Any], node: SchemaNode, path: str | None) -> list[Cause]:
    for i, x in enumerate(obj):
        if x is not None and not isinstance(x, dict):
            detail = "must be an object for an array of list-type map"
            return [field_error("FieldValueInvalid", index(path, i), detail, x)]
    items = node.items()
    keys = node.list_map_keys
    # A missing key takes the key property's default; missing without one, all such
    # entries collide on purpose.
    defaults = {k: (items.properties.get(k) or {}).get("default") if items else None for k in keys}
    rows = []
    for i, x in enumerate(obj):
        if isinstance(x, dict):
            shown = {k: x.get(k, defaults[k]) for k in keys if k in x or defaults[k] is not None}
            rows.append(
                (i, shown, tuple(_token(shown[k]) if k in shown else "unset" for k in keys))
            )
    return [
        field_error("FieldValueDuplicate", index(path, rows[j][0]), value=rows[j][1])
        for j in _second_occurrences([r[2] for r in rows])
    ]
