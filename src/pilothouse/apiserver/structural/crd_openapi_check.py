"""The OpenAPI restrictions on CRD schemas (``ValidateCustomResourceDefinitionOpenAPISchema``).

A CRD schema may be perfectly structural and still use OpenAPI features custom resources do
not support. :func:`openapi_errors` reports them with the server's wording:

* ``$ref``, ``id``, ``patternProperties``, ``definitions``, ``dependencies`` and
  ``additionalItems`` are forbidden, as are ``uniqueItems: true`` (quadratic),
  ``type: null`` (use ``nullable``), array-valued ``items``, an unknown ``type`` and
  ``x-kubernetes-preserve-unknown-fields: false``;
* ``additionalProperties`` and ``properties`` are mutually exclusive;
* defaults are forbidden in the top-level ``apiVersion``/``kind``/``metadata`` and in
  ``additionalProperties`` below metadata, and embedded resources cannot sit inside
  resource metadata;
* the list and map type extensions are consistent: ``x-kubernetes-map-type`` only on
  objects, ``x-kubernetes-list-type`` only on arrays, set items atomic, map lists with
  object items, scalar, non-nullable key properties that are required or defaulted, and
  unique, declared ``x-kubernetes-list-map-keys``.

Design choice: the position-dependent rules are carried down the walk in a small immutable
:class:`_Context`, as Go's ``specStandardValidator`` carries them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.structural.gorender import (
    GoRepr,
    field_error,
    go_quote,
    required_or_invalid,
)
from pilothouse.apiserver.structural.jsonvalues import as_array, as_object

__all__ = ["openapi_errors"]

_META = ("apiVersion", "kind", "metadata")
_TYPES = ("array", "boolean", "integer", "number", "object", "string")


def openapi_errors(schema: Mapping[str, Any], path: str) -> list[Cause]:
    """The OpenAPI-restriction errors of a CRD's root ``schema`` under ``path``."""
    return _openapi(schema, path, _Context(), root=True)


def _props(s: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_object(s.get("properties"))


class _Context:
    """``specStandardValidator``: what the position in the schema allows."""

    def __init__(self, defaults_reason: str | None = None, inside_meta: bool = False) -> None:
        self.defaults_reason, self.inside_meta = defaults_reason, inside_meta

    def forbid_defaults(self, reason: str) -> _Context:
        return _Context(reason, self.inside_meta)

    def in_meta(self) -> _Context:
        return _Context(self.defaults_reason, True)


_UNSUPPORTED = (
    ("id", "id is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("definitions", "definitions is not supported"),
    ("dependencies", "dependencies is not supported"),
    ("$ref", "$ref is not supported"),
)


def _openapi(s: Mapping[str, Any], fld: str, ctx: _Context, root: bool = False) -> list[Cause]:
    out: list[Cause] = []
    t = s.get("type") or ""
    if t and t not in _TYPES:
        detail = "supported values: " + ", ".join(go_quote(x) for x in _TYPES)
        out.append(field_error("FieldValueNotSupported", f"{fld}.type", detail, t))
    if "default" in s and ctx.defaults_reason is not None:
        out.append(
            field_error(
                "FieldValueForbidden", f"{fld}.default", f"must not be set {ctx.defaults_reason}"
            )
        )
    for name, detail in _UNSUPPORTED:
        if s.get(name) not in (None, "", {}):
            out.append(field_error("FieldValueForbidden", f"{fld}.{name}", detail))
    if t == "null":
        detail = "type cannot be set to null, use nullable as an alternative"
        out.append(field_error("FieldValueForbidden", f"{fld}.type", detail))
    if isinstance(s.get("items"), list):
        detail = "items must be a schema object and not an array"
        out.append(field_error("FieldValueForbidden", f"{fld}.items", detail))
    embedded = s.get("x-kubernetes-embedded-resource") is True
    if ctx.inside_meta and embedded:
        detail = "must not be used inside of resource meta"
        out.append(
            field_error("FieldValueForbidden", f"{fld}.x-kubernetes-embedded-resource", detail)
        )
    if s.get("uniqueItems") is True:
        detail = "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        out.append(field_error("FieldValueForbidden", f"{fld}.uniqueItems", detail))
    props = _props(s)
    if "additionalProperties" in s:
        ap = s["additionalProperties"]
        if props and (ap is False or isinstance(ap, Mapping)):
            detail = "additionalProperties and properties are mutual exclusive"
            out.append(field_error("FieldValueForbidden", f"{fld}.additionalProperties", detail))
        if isinstance(ap, Mapping):
            sub = (
                ctx.forbid_defaults("inside additionalProperties applying to object metadata")
                if ctx.inside_meta
                else ctx
            )
            out += _openapi(ap, f"{fld}.additionalProperties", sub)
    for k, v in props.items():
        sub = ctx
        if (root or embedded) and k in _META:
            sub = sub.in_meta()
            if root:
                sub = sub.forbid_defaults(f"in top-level {k}")
        out += _openapi(as_object(v), f"{fld}.properties[{k}]", sub)
    if isinstance(s.get("not"), Mapping):
        out += _openapi(s["not"], f"{fld}.not", ctx)
    for name in ("allOf", "oneOf", "anyOf"):
        for i, v in enumerate(as_array(s.get(name))):
            out += _openapi(as_object(v), f"{fld}.{name}[{i}]", ctx)
    items = s.get("items")
    if isinstance(items, Mapping):
        out += _openapi(items, f"{fld}.items", ctx)
    elif isinstance(items, list):
        for i, v in enumerate(items):
            out += _openapi(as_object(v), f"{fld}.items[{i}]", ctx)
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        detail = "must be true or undefined"
        out.append(
            field_error(
                "FieldValueInvalid", f"{fld}.x-kubernetes-preserve-unknown-fields", detail, False
            )
        )
    return out + _list_and_map_types(s, fld)


def _list_and_map_types(s: Mapping[str, Any], fld: str) -> list[Cause]:
    out: list[Cause] = []
    t = s.get("type") or ""
    map_type, list_type = s.get("x-kubernetes-map-type"), s.get("x-kubernetes-list-type")
    keys = s.get("x-kubernetes-list-map-keys") or []
    items = s.get("items") if isinstance(s.get("items"), Mapping) else None
    if map_type is not None and t != "object":
        out.append(
            required_or_invalid(
                f"{fld}.type", t, "must be object if x-kubernetes-map-type is specified"
            )
        )
    if map_type is not None and map_type not in ("atomic", "granular"):
        detail = 'supported values: "atomic", "granular"'
        out.append(
            field_error("FieldValueNotSupported", f"{fld}.x-kubernetes-map-type", detail, map_type)
        )
    if list_type is not None and t != "array":
        out.append(
            required_or_invalid(
                f"{fld}.type", t, "must be array if x-kubernetes-list-type is specified"
            )
        )
    elif list_type == "set" and items is not None:
        detail = "must be atomic as item of a list with x-kubernetes-list-type=set"
        item_list = items.get("x-kubernetes-list-type")
        if items.get("type") == "array" and item_list not in (None, "atomic"):
            out.append(
                field_error(
                    "FieldValueInvalid", f"{fld}.items.x-kubernetes-list-type", detail, item_list
                )
            )
        if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            out.append(
                field_error(
                    "FieldValueInvalid", f"{fld}.items.x-kubernetes-map-type", detail, item_list
                )
            )
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        detail = 'supported values: "atomic", "set", "map"'
        out.append(
            field_error(
                "FieldValueNotSupported", f"{fld}.x-kubernetes-list-type", detail, list_type
            )
        )
    if keys and list_type != "map":
        detail = "must be map if x-kubernetes-list-map-keys is non-empty"
        out.append(required_or_invalid(f"{fld}.x-kubernetes-list-type", list_type or "", detail))
    if list_type == "map":
        out += _map_list(s, fld, items, keys if isinstance(keys, list) else [])
    if list_type in ("set", "map") and items is not None and items.get("nullable") is True:
        detail = f"cannot be nullable when x-kubernetes-list-type is {list_type}"
        out.append(field_error("FieldValueForbidden", f"{fld}.items.nullable", detail))
    if list_type == "map" and items is not None:
        required = items.get("required") or []
        for k in keys if isinstance(keys, list) else []:
            prop = _props(items).get(k)
            if not isinstance(prop, Mapping):
                continue
            where = f"{fld}.items.properties[{k}]"
            if k not in required and prop.get("default") is None:
                detail = (
                    "this property is in x-kubernetes-list-map-keys, so it must have a default "
                    "or be a required property"
                )
                out.append(field_error("FieldValueRequired", f"{where}.default", detail))
            if prop.get("nullable") is True:
                detail = "this property is in x-kubernetes-list-map-keys, so it cannot be nullable"
                out.append(field_error("FieldValueForbidden", f"{where}.nullable", detail))
    return out


def _map_list(
    s: Mapping[str, Any], fld: str, items: Mapping[str, Any] | None, keys: list[Any]
) -> list[Cause]:
    out: list[Cause] = []
    shown = GoRepr("[]string{" + ", ".join(go_quote(str(k)) for k in keys) + "}")
    if not keys:
        detail = "must not be empty if x-kubernetes-list-type is map"
        out.append(field_error("FieldValueRequired", f"{fld}.x-kubernetes-list-map-keys", detail))
    if "items" not in s:
        detail = "must have a schema if x-kubernetes-list-type is map"
        out.append(field_error("FieldValueRequired", f"{fld}.items", detail))
    elif items is None:
        detail = "must only have a single schema if x-kubernetes-list-type is map"
        out.append(field_error("FieldValueInvalid", f"{fld}.items", detail, s["items"]))
    elif items.get("type") != "object":
        detail = "must be object if parent array's x-kubernetes-list-type is map"
        out.append(
            field_error("FieldValueInvalid", f"{fld}.items.type", detail, items.get("type") or "")
        )
    else:
        seen: set[str] = set()
        for k in keys:
            prop = _props(items).get(k)
            if isinstance(prop, Mapping):
                if prop.get("type") in ("array", "object"):
                    detail = "must be a scalar type if parent array's x-kubernetes-list-type is map"
                    out.append(
                        field_error(
                            "FieldValueInvalid",
                            f"{fld}.items.properties[{k}].type",
                            detail,
                            "object",
                        )
                    )
            else:
                detail = "entries must all be names of item properties"
                out.append(
                    field_error(
                        "FieldValueInvalid", f"{fld}.x-kubernetes-list-map-keys", detail, shown
                    )
                )
            if k in seen:
                detail = "must not contain duplicate entries"
                out.append(
                    field_error(
                        "FieldValueInvalid", f"{fld}.x-kubernetes-list-map-keys", detail, shown
                    )
                )
            seen.add(str(k))
    return out
