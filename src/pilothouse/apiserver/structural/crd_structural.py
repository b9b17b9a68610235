"""``schema.ValidateStructural``: is a CRD's ``openAPIV3Schema`` a structural schema?

:func:`structural_errors` reproduces the two halves of the real check on the raw schema
dict, with the server's wording, sorted by text as the server sorts them:

* invariants (``validateStructuralInvariants``): every node has a ``type`` (unless it is
  int-or-string or preserves unknown fields), arrays have ``items``, the root is an object
  without ``additionalProperties``, ``metadata`` at the root restricts only ``name`` and
  ``generateName``, embedded resources are objects with properties (or preserve unknown
  fields), ``x-kubernetes-int-or-string`` excludes the other two extensions, and junctors
  (``allOf``/``anyOf``/``oneOf``/``not``) carry value validations only, with valid
  ``pattern`` regular expressions;
* completeness (``validateStructuralCompleteness``): every field a junctor mentions is
  declared in the structural spine (``properties``/``items``) at the same place.

Design choices: the checks run on the raw mapping rather than a
:class:`~pilothouse.apiserver.schemas.SchemaNode`, because the input is unvalidated and
ill-typed fields must be read without raising; the ``anyOf: [integer, string]`` pattern
the int-or-string extension generates is exempt, as in Go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.structural.formats import pattern_error
from pilothouse.apiserver.structural.gorender import field_error, required_or_invalid
from pilothouse.apiserver.structural.jsonvalues import as_array, as_object

__all__ = ["structural_errors"]

_ROOT, _ITEM, _FIELD = "root", "item", "field"
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def structural_errors(schema: Mapping[str, Any], path: str) -> list[Cause]:
    """The structural-schema errors of a CRD's ``schema`` under ``path``, sorted."""
    out = _invariants(schema, _ROOT, path) + _completeness(schema, path)
    out.sort(key=lambda c: c.describe())
    return out


def _props(s: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_object(s.get("properties"))


# -- invariants ----------------------------------------------------------------------------


def _invariants(s: Mapping[str, Any], level: str, fld: str) -> list[Cause]:
    out: list[Cause] = []
    t = s.get("type") or ""
    items = s.get("items")
    if t == "array" and items is None:
        out.append(field_error("FieldValueRequired", f"{fld}.items", "must be specified"))
    if isinstance(items, Mapping):
        out += _invariants(items, _ITEM, f"{fld}.items")
    for k, v in _props(s).items():
        out += _invariants(as_object(v), _FIELD, f"{fld}.properties[{k}]")
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
    all_of = as_array(s.get("allOf"))
    skip_any_of = s.get("anyOf") == _INT_OR_STRING
    skip_first = bool(all_of) and as_object(all_of[0]).get("anyOf") == _INT_OR_STRING
    out += _value_validation(s, skip_any_of, skip_first, level, fld)
    if embedded and t != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        out.append(required_or_invalid(f"{fld}.type", t, detail))
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
            if name in props and (got := as_object(props[name]).get("type") or "") != want:
                detail = f"must be {want}"
                out.append(
                    field_error("FieldValueInvalid", f"{fld}.properties[{name}].type", detail, got)
                )
    if level == _ROOT and "metadata" in props and not _plain_metadata(as_object(props["metadata"])):
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
        subs = as_array(v.get(name))
        if name == "anyOf" and skip_any_of:
            continue
        for i, sub in enumerate(subs):
            out += _nested(
                as_object(sub),
                name == "allOf" and i == 0 and skip_first,
                level,
                f"{fld}.{name}[{i}]",
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
        out += _nested(as_object(sub), False, _FIELD, f"{fld}.properties[{k}]")
    for name, detail in _FORBIDDEN_NESTED:
        value = v.get(name)
        if value is not None and value is not False and value != "" and value != []:
            out.append(field_error("FieldValueForbidden", f"{fld}.{name}", detail))
    if "metadata" in _props(v):
        detail = "must not be specified in a nested context"
        out.append(field_error("FieldValueForbidden", f"{fld}.properties[metadata]", detail))
    return out


# -- completeness --------------------------------------------------------------------------


def _completeness(s: Mapping[str, Any], fld: str) -> list[Cause]:
    out: list[Cause] = []
    if isinstance(s.get("items"), Mapping):
        out += _completeness(s["items"], f"{fld}.items")
    for k, v in _props(s).items():
        out += _completeness(as_object(v), f"{fld}.properties[{k}]")
    if isinstance(s.get("additionalProperties"), Mapping):
        out += _completeness(s["additionalProperties"], f"{fld}.additionalProperties")
    return out + _junctors_complete(s, s, fld, fld)


def _junctors_complete(
    v: Mapping[str, Any], s: Mapping[str, Any] | None, s_path: str, v_path: str
) -> list[Cause]:
    out: list[Cause] = []
    subs: list[tuple[Any, str]] = [(v.get("not"), f"{v_path}.not")]
    for name in ("allOf", "anyOf", "oneOf"):
        listed = as_array(v.get(name))
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
            out += _nested_complete(as_object(sub), as_object(s_props[k]), sp, vp)
    return out
