"""Is a CRD's ``openAPIV3Schema`` structural, and does it use only what CRDs support?

:func:`check_structural` reproduces, on the raw schema dict, the checks the real server
makes when a CRD is written, in the same order and with the same wording:

1. ``nullable`` is forbidden at the root;
2. ``schema.ValidateStructural``: every node has a ``type`` (unless it is int-or-string or
   preserves unknown fields), arrays have ``items``, the root is an object without
   ``additionalProperties``, ``metadata`` at the root restricts only ``name`` and
   ``generateName``, embedded resources are objects, junctors (``allOf``/``anyOf``/
   ``oneOf``/``not``) carry value validations only and mention no field the structural
   spine does not declare; these errors are sorted by text, as the server sorts them;
3. if the schema is structural, ``defaulting.ValidateDefaults``: each ``default`` must be
   pruned already (``must not have unknown fields``) and valid against its own schema,
   including its ``x-kubernetes-validations``;
4. the OpenAPI restrictions of ``ValidateCustomResourceDefinitionOpenAPISchema``: no
   ``$ref``, ``id``, ``patternProperties``, ``definitions``, ``dependencies``,
   ``additionalItems``, ``uniqueItems``, ``type: null``, array-valued ``items``;
   ``additionalProperties`` and ``properties`` are exclusive; defaults are forbidden in
   ``apiVersion``/``kind``/``metadata``; list/map type extensions are consistent.

Fields are reported under ``path`` (``spec.versions[0].schema.openAPIV3Schema`` for a v1
CRD version), properties as ``properties[spec]``. The ``x-kubernetes-validations`` checks
(rule metadata, compilation, transition rules) live in :func:`.cel.compile_errors`; the CRD
validation step calls both. The status-subresource restriction on root fields and the
defaults inside metadata are not checked.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural import cel, pruning
from pilothouse.apiserver.structural.validate import (
    GoRepr,
    deep_equal,
    field_error,
    go_quote,
    pattern_error,
    validate_at,
)

__all__ = ["check_structural"]

_ROOT, _ITEM, _FIELD = "root", "item", "field"
_META = ("apiVersion", "kind", "metadata")
_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def check_structural(
    schema: Mapping[str, Any], path: str = "spec.validation.openAPIV3Schema"
) -> list[Cause]:
    """The errors the server reports for ``schema`` as a CRD's ``openAPIV3Schema``."""
    if not isinstance(schema, Mapping):
        return [field_error("FieldValueRequired", path)]
    out: list[Cause] = []
    if schema.get("nullable") is True:
        out.append(
            field_error(
                "FieldValueForbidden", f"{path}.nullable", "nullable cannot be true at the root"
            )
        )
    structural = _invariants(schema, _ROOT, path) + _completeness(schema, path)
    structural.sort(key=lambda c: c.describe())
    out += structural or _defaults(schema, path, inside_meta=False, resource=True)
    out += _openapi(schema, path, _Context(), root=True)
    return out


# -- ValidateStructural --------------------------------------------------------------------


def _dict(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _props(s: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(s.get("properties"))


def _invariants(s: Mapping[str, Any], level: str, fld: str) -> list[Cause]:
    out: list[Cause] = []
    t = s.get("type") or ""
    items = s.get("items")
    if t == "array" and items is None:
        out.append(field_error("FieldValueRequired", f"{fld}.items", "must be specified"))
    if isinstance(items, Mapping):
        out += _invariants(items, _ITEM, f"{fld}.items")
    for k, v in _props(s).items():
        out += _invariants(_dict(v), _FIELD, f"{fld}.properties[{k}]")
    if "additionalProperties" in s:
        if level == _ROOT:
            out.append(
                field_error(
                    "FieldValueForbidden",
                    f"{fld}.additionalProperties",
                    "must not be used at the root",
                )
            )
        if isinstance(s["additionalProperties"], Mapping):
            out += _invariants(s["additionalProperties"], _FIELD, f"{fld}.additionalProperties")
    int_or_string = s.get("x-kubernetes-int-or-string") is True
    preserve = s.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = s.get("x-kubernetes-embedded-resource") is True
    if int_or_string and preserve:
        detail = "must be false if x-kubernetes-int-or-string is true"
        out.append(
            field_error(
                "FieldValueInvalid", f"{fld}.x-kubernetes-preserve-unknown-fields", detail, True
            )
        )
    if int_or_string and embedded:
        detail = "must be false if x-kubernetes-int-or-string is true"
        out.append(
            field_error("FieldValueInvalid", f"{fld}.x-kubernetes-embedded-resource", detail, True)
        )
    all_of = _list(s.get("allOf"))
    skip_any_of = s.get("anyOf") == _INT_OR_STRING
    skip_first = bool(all_of) and _dict(all_of[0]).get("anyOf") == _INT_OR_STRING
    out += _value_validation(s, skip_any_of, skip_first, level, fld)
    if embedded and t != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        out.append(_required_or_invalid(f"{fld}.type", t, detail))
    elif not t and not int_or_string and not preserve:
        where = {
            _ROOT: "at the root",
            _ITEM: "for specified array items",
            _FIELD: "for specified object fields",
        }
        out.append(
            field_error("FieldValueRequired", f"{fld}.type", f"must not be empty {where[level]}")
        )
    if embedded and "additionalProperties" in s:
        detail = "must not be used if x-kubernetes-embedded-resource is set"
        out.append(field_error("FieldValueForbidden", f"{fld}.additionalProperties", detail))
    if level == _ROOT and t and t != "object":
        out.append(field_error("FieldValueInvalid", f"{fld}.type", "must be object at the root", t))
    props = _props(s)
    if level == _ROOT or embedded:
        for name, want in (("kind", "string"), ("apiVersion", "string"), ("metadata", "object")):
            if name in props and (got := _dict(props[name]).get("type") or "") != want:
                detail = f"must be {want}"
                out.append(
                    field_error("FieldValueInvalid", f"{fld}.properties[{name}].type", detail, got)
                )
    if level == _ROOT and "metadata" in props and not _plain_metadata(_dict(props["metadata"])):
        detail = (
            "must not specify anything other than name and generateName, but metadata is "
            "implicitly specified"
        )
        out.append(field_error("FieldValueForbidden", f"{fld}.properties[metadata]", detail))
    if embedded and not preserve and not props:
        detail = (
            "must not be empty if x-kubernetes-embedded-resource is true without "
            "x-kubernetes-preserve-unknown-fields"
        )
        out.append(field_error("FieldValueRequired", f"{fld}.properties", detail))
    return out


def _required_or_invalid(fld: str, value: str, detail: str) -> Cause:
    if not value:
        return field_error("FieldValueRequired", fld, detail)
    return field_error("FieldValueInvalid", fld, detail, value)


def _plain_metadata(meta: Mapping[str, Any]) -> bool:
    """Root metadata may only be ``type: object`` (checked elsewhere), a ``default``
    (forbidden elsewhere) and properties ``name``/``generateName``."""
    names = set(_props(meta))
    for k, v in meta.items():
        if k in ("type", "default") or v in (None, "", False, [], {}):
            continue
        if k == "properties" and names <= {"name", "generateName"}:
            continue
        return False
    return True


def _value_validation(
    v: Mapping[str, Any], skip_any_of: bool, skip_first: bool, level: str, fld: str
) -> list[Cause]:
    out: list[Cause] = []
    for name in ("anyOf", "allOf", "oneOf"):
        subs = _list(v.get(name))
        if name == "anyOf" and skip_any_of:
            continue
        for i, sub in enumerate(subs):
            out += _nested(
                _dict(sub), name == "allOf" and i == 0 and skip_first, level, f"{fld}.{name}[{i}]"
            )
    if isinstance(v.get("not"), Mapping):
        out += _nested(v["not"], False, level, f"{fld}.not")
    pattern = v.get("pattern")
    if isinstance(pattern, str) and pattern and (problem := pattern_error(pattern)):
        why = problem.removeprefix("error parsing regexp: ")
        detail = f"must be a valid regular expression, but isn't: {why}"
        out.append(field_error("FieldValueInvalid", f"{fld}.pattern", detail, pattern))
    return out


_FORBIDDEN_NESTED = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
)


def _nested(v: Mapping[str, Any], skip_any_of: bool, level: str, fld: str) -> list[Cause]:
    """A junctor subschema: value validations only (``validateNestedValueValidation``)."""
    out = _value_validation(v, skip_any_of, False, level, fld)
    if isinstance(v.get("items"), Mapping):
        out += _nested(v["items"], False, level, f"{fld}.items")
    for k, sub in _props(v).items():
        out += _nested(_dict(sub), False, _FIELD, f"{fld}.properties[{k}]")
    for name, detail in _FORBIDDEN_NESTED:
        value = v.get(name)
        if value is not None and value is not False and value != "" and value != []:
            out.append(field_error("FieldValueForbidden", f"{fld}.{name}", detail))
    if "metadata" in _props(v):
        detail = "must not be specified in a nested context"
        out.append(field_error("FieldValueForbidden", f"{fld}.properties[metadata]", detail))
    return out


def _completeness(s: Mapping[str, Any], fld: str) -> list[Cause]:
    out: list[Cause] = []
    if isinstance(s.get("items"), Mapping):
        out += _completeness(s["items"], f"{fld}.items")
    for k, v in _props(s).items():
        out += _completeness(_dict(v), f"{fld}.properties[{k}]")
    if isinstance(s.get("additionalProperties"), Mapping):
        out += _completeness(s["additionalProperties"], f"{fld}.additionalProperties")
    return out + _junctors_complete(s, s, fld, fld)


def _junctors_complete(
    v: Mapping[str, Any], s: Mapping[str, Any] | None, s_path: str, v_path: str
) -> list[Cause]:
    out: list[Cause] = []
    subs: list[tuple[Any, str]] = [(v.get("not"), f"{v_path}.not")]
    for name in ("allOf", "anyOf", "oneOf"):
        listed = _list(v.get(name))
        subs += [(x, f"{v_path}.{name}[{i}]") for i, x in enumerate(listed)]
    for sub, sub_path in subs:
        if isinstance(sub, Mapping):
            out += _nested_complete(sub, s, s_path, sub_path)
    return out


def _nested_complete(
    v: Mapping[str, Any], s: Mapping[str, Any] | None, s_path: str, v_path: str
) -> list[Cause]:
    if s is None:
        return [field_error("FieldValueRequired", s_path, f"because it is defined in {v_path}")]
    out = _junctors_complete(v, s, s_path, v_path)
    if isinstance(v.get("items"), Mapping):
        items = s.get("items") if isinstance(s.get("items"), Mapping) else None
        out += _nested_complete(v["items"], items, f"{s_path}.items", f"{v_path}.items")
    s_props = _props(s)
    for k, sub in _props(v).items():
        sp, vp = f"{s_path}.properties[{k}]", f"{v_path}.properties[{k}]"
        if k not in s_props:
            out.append(field_error("FieldValueRequired", sp, f"because it is defined in {vp}"))
        else:
            out += _nested_complete(_dict(sub), _dict(s_props[k]), sp, vp)
    return out


# -- ValidateDefaults ----------------------------------------------------------------------


def _defaults(s: Mapping[str, Any], fld: str, inside_meta: bool, resource: bool) -> list[Cause]:
    out: list[Cause] = []
    if "default" in s and s["default"] is not None and not inside_meta:
        node = SchemaNode(s)
        default = s["default"]
        pruned = copy.deepcopy(default)
        embedded = s.get("x-kubernetes-embedded-resource") is True
        pruning.prune(pruned, node, is_root=embedded)
        if not deep_equal(pruned, default):
            out.append(
                field_error(
                    "FieldValueInvalid", f"{fld}.default", "must not have unknown fields", default
                )
            )
        elif errs := validate_at(default, node, f"{fld}.default"):
            out += errs
        else:
            out += cel.validate_cel(default, default, node, f"{fld}.default")
    if isinstance(s.get("items"), Mapping):
        out += _defaults(s["items"], f"{fld}.items", inside_meta, False)
    embedded = resource or s.get("x-kubernetes-embedded-resource") is True
    for k, v in _props(s).items():
        meta = inside_meta or (embedded and k in _META)
        out += _defaults(_dict(v), f"{fld}.properties[{k}]", meta, False)
    return out


# -- ValidateCustomResourceDefinitionOpenAPISchema -----------------------------------------


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
        out += _openapi(_dict(v), f"{fld}.properties[{k}]", sub)
    if isinstance(s.get("not"), Mapping):
        out += _openapi(s["not"], f"{fld}.not", ctx)
    for name in ("allOf", "oneOf", "anyOf"):
        for i, v in enumerate(_list(s.get(name))):
            out += _openapi(_dict(v), f"{fld}.{name}[{i}]", ctx)
    items = s.get("items")
    if isinstance(items, Mapping):
        out += _openapi(items, f"{fld}.items", ctx)
    elif isinstance(items, list):
        for i, v in enumerate(items):
            out += _openapi(_dict(v), f"{fld}.items[{i}]", ctx)
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
            _required_or_invalid(
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
            _required_or_invalid(
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
        out.append(_required_or_invalid(f"{fld}.x-kubernetes-list-type", list_type or "", detail))
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
