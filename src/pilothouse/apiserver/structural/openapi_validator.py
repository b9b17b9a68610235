"""kube-openapi's schema validator, with its errors converted to field errors.

:class:`SchemaValidator` is ``k8s.io/kube-openapi/pkg/validation/validate.SchemaValidator``
for one value and its schema: type, nullable, enum, formats, bounds, lengths, item and
property counts and the ``allOf``/``anyOf``/``oneOf``/``not`` junctors, run in kube-openapi's
order (type, junctors, string, format, number, slice, enum, object), where only the type
and enum checks see nulls. Its raw results are then converted to field errors as
``apiserver/validation.kubeOpenAPIResultToFieldErrors`` does, which is where the peculiar
wording comes from (``Invalid value: "string": spec.replicas in body must be of type
integer: "string"``, ``Too long: may not be more than 5 bytes``, ``<nil>`` as the field of
junctor failures, ``spec.labels.key`` for map entries).

Design choices:

* kube-openapi's quirks are kept on purpose because clients and tests compare messages:
  formats CRDs do not support (``int32``, ``quantity``...) are ignored as the server strips
  them, a string or array under a non-numeric ``format`` skips the type check, integer data
  is compared with ``int64(minimum)``, and null never matches an ``enum``. ``anyOf`` and
  ``oneOf`` report the failures of the closest alternative, approximated here as the one
  with the fewest errors (kube-openapi counts passed checks).
* Errors are collected as plain tuples (:data:`_Err`) in kube-openapi's own shape and only
  turned into causes at the end, because junctors compare and discard alternatives' errors.
* Both schema styles are read: the CRD style (``type: string``, ``nullable: true``) and the
  JSON-schema style of built-in definitions (``type: [string, "null"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.formats import (
    format_supported,
    format_valid,
    pattern_error,
    pattern_matches,
)
from pilothouse.apiserver.structural.gorender import child, field_error, go_float, go_json, go_quote
from pilothouse.apiserver.structural.jsonvalues import (
    deep_equal,
    is_int,
    is_json_integer,
    is_num,
    json_kind,
)

__all__ = ["SchemaValidator"]

# One kube-openapi error before conversion: ``code`` selects the field-error constructor
# kubeOpenAPIResultToFieldErrors picks, ``name`` is kube-openapi's own path.
_Err = tuple[str, str, Any, str, Any]  # (code, name, value, message, limit-or-enum)


def _sub(node: SchemaNode, raw: Any) -> SchemaNode | None:
    # SchemaNode has no accessor for junctor subschemas; reuse its definitions so that a
    # $ref inside one still resolves.
    if not isinstance(raw, Mapping):
        return None
    return SchemaNode(raw, getattr(node, "_defs", None))


def _types(raw: Mapping[str, Any]) -> tuple[list[str], bool]:
    """Declared types and nullability, for the CRD style (``type: string``, ``nullable``)
    and the JSON-schema style of built-in definitions (``type: [string, "null"]``)."""
    t = raw.get("type")
    types = [x for x in t if isinstance(x, str)] if isinstance(t, list) else [t] if t else []
    nullable = bool(raw.get("nullable")) or "null" in types
    if raw.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    return [x for x in types if x != "null" and isinstance(x, str)], nullable


_JUNCTORS = frozenset(("anyOf", "oneOf", "allOf", "not"))


class SchemaValidator:
    """kube-openapi's SchemaValidator: the validators run in its order (type, junctors,
    string, format, number, slice, enum, object) and only type and enum see nulls.

    ``root`` is the value's path as kube-openapi names it in messages, ``prefix`` the field
    path the converted causes are reported under (``None``: the nil path), and
    ``skip_root_meta`` leaves the ``metadata`` of a resource root to its own validator.
    """

    def __init__(self, root: str, prefix: str | None, skip_root_meta: bool) -> None:
        self.root, self.prefix, self.skip_root_meta = root, prefix, skip_root_meta

    def run(self, obj: Any, schema: SchemaNode) -> list[Cause]:
        """The causes for ``obj`` against ``schema``, in kube-openapi's order."""
        return [self._cause(e) for e in self.check(obj, schema, self.root)]

    def _cause(self, e: _Err) -> Cause:
        code, name, value, message, limit = e
        if code == "composite":  # not a *Validation: reported on the root path
            return field_error("FieldValueInvalid", self.prefix, message, "")
        fld = self.prefix
        if name and name != ".":
            fld = child(fld, name[1:] if name.startswith(".") else name)
        if code == "required":
            return field_error("FieldValueRequired", fld)
        if code == "enum":
            shown = [v if isinstance(v, str) else go_json(v) for v in limit]
            detail = "supported values: " + ", ".join(go_quote(v) for v in shown)
            return field_error("FieldValueNotSupported", fld, detail, value)
        if code == "too_long":
            return field_error("FieldValueTooLong", fld, f"may not be more than {limit} bytes")
        if code == "too_many":
            return field_error("FieldValueTooMany", fld, f"must have at most {limit} items", value)
        reason = "FieldValueTypeInvalid" if code == "type" else "FieldValueInvalid"
        return field_error(reason, fld, message, "" if value is None else value)

    def check(self, data: Any, node: SchemaNode, path: str) -> list[_Err]:
        raw = node.raw
        types, nullable = _types(raw)
        fmt = raw.get("format")
        fmt = fmt if isinstance(fmt, str) and format_supported(fmt) else ""
        if data is None:
            errs = [_type_err(path, ",".join(types), "null")] if types and not nullable else []
            return errs + self._enum(data, raw, path)
        errs = self._type(data, types, fmt, path) if types or fmt else []
        errs += self._junctors(data, node, path)
        if isinstance(data, str):
            errs += self._string(data, raw, path)
            if fmt and not format_valid(fmt, data):
                errs.append(_type_err(path, fmt, data))
        elif is_num(data):
            errs += self._number(data, raw, path)
        elif isinstance(data, list):
            errs += self._slice(data, node, path)
        errs += self._enum(data, raw, path)
        if isinstance(data, dict):
            errs += self._object(data, node, path)
        return errs

    def _type(self, data: Any, types: list[str], fmt: str, path: str) -> list[_Err]:
        kind = json_kind(data)
        go_fmt = {"integer": "int64", "number": "float64"}.get(kind, "")
        float_int = kind == "number" and is_json_integer(float(data)) and "integer" in types
        matches = kind in types or float_int or (kind == "integer" and "number" in types)
        str_or_list = isinstance(data, str | list)
        if fmt and not str_or_list and not (matches or go_fmt == fmt):
            return [_type_err(path, fmt, go_fmt)]
        if fmt and str_or_list and "integer" not in types and "number" not in types:
            return []
        return [] if matches else [_type_err(path, ",".join(types), kind)]

    def _junctors(self, data: Any, node: SchemaNode, path: str) -> list[_Err]:
        raw = node.raw
        if not _JUNCTORS.intersection(raw):
            return []  # the common case: no need to quote the path
        errs: list[_Err] = []
        q = go_quote(path)

        def results(name: str) -> list[list[_Err]]:
            # A malformed schema may hold anything here (``allOf: true``): only a list counts.
            value = raw.get(name)
            subs = [_sub(node, x) for x in (value if isinstance(value, list) else [])]
            return [self.check(data, s, path) for s in subs if s is not None]

        any_of = results("anyOf")
        if any_of and all(any_of):
            errs.append(_composite(f"{q} must validate at least one schema (anyOf)"))
            errs += _fewest(any_of)
        one_of = results("oneOf")
        if one_of and (ok := sum(1 for r in one_of if not r)) != 1:
            why = "Found none valid" if ok == 0 else f"Found {ok} valid alternatives"
            errs.append(_composite(f"{q} must validate one and only one schema (oneOf). {why}"))
            errs += _fewest(one_of) if ok == 0 else []
        all_of = results("allOf")
        if all_of:
            for r in all_of:
                errs += r
            if (ok := sum(1 for r in all_of if not r)) != len(all_of):
                none = ". None validated" if ok == 0 else ""
                errs.append(_composite(f"{q} must validate all the schemas (allOf){none}"))
        not_ = _sub(node, raw.get("not"))
        if not_ is not None and not self.check(data, not_, path):
            errs.append(_composite(f"{q} must not validate the schema (not)"))
        return errs

    def _string(self, data: str, raw: Mapping[str, Any], path: str) -> list[_Err]:
        errs: list[_Err] = []
        n = len(data)  # runes, as utf8.RuneCountInString
        max_len, min_len, pattern = raw.get("maxLength"), raw.get("minLength"), raw.get("pattern")
        if is_int(max_len) and n > max_len:
            msg = f"{path} in body should be at most {max_len} chars long"
            errs.append(("too_long", path, data, msg, max_len))
        if is_int(min_len) and n < min_len:
            msg = f"{path} in body should be at least {min_len} chars long"
            errs.append(("other", path, data, msg, None))
        if isinstance(pattern, str) and pattern:
            problem = pattern_error(pattern)
            if problem is not None:
                shown = f"{pattern}, but pattern is invalid: {problem}"
                errs.append(("other", path, data, f"{path} in body should match '{shown}'", None))
            elif not pattern_matches(pattern, data):
                errs.append(("other", path, data, f"{path} in body should match '{pattern}'", None))
        return errs

    def _number(self, data: int | float, raw: Mapping[str, Any], path: str) -> list[_Err]:
        errs: list[_Err] = []
        as_int = json_kind(data) == "integer"  # an int64 in Go; everything else is float64
        factor = raw.get("multipleOf")
        if is_num(factor):
            shown = str(factor) if isinstance(factor, int) else go_float(factor)
            if factor < 0:
                msg = f"factor MultipleOf declared for {path} must be positive: {shown}"
                errs.append(("other", path, factor, msg, None))
            elif as_int and int(factor) != 0:
                if int(data) % int(factor):
                    msg = f"{path} in body should be a multiple of {int(factor)}"
                    errs.append(("other", path, data, msg, None))
            elif factor:
                f = float(data)
                if not is_json_integer(1 / factor * f if factor < 1 else f / factor):
                    msg = f"{path} in body should be a multiple of {go_float(float(factor))}"
                    errs.append(("other", path, data, msg, None))
        for bound, excl, word in (
            ("maximum", "exclusiveMaximum", "less"),
            ("minimum", "exclusiveMinimum", "greater"),
        ):
            limit = raw.get(bound)
            if not is_num(limit):
                continue
            # Integer data is compared with int64(limit), truncating a fractional bound.
            lim: int | float = int(limit) if as_int else float(limit)
            value: int | float = int(data) if as_int else float(data)
            exclusive = raw.get(excl) is True
            beyond = value > lim if word == "less" else value < lim
            if beyond or (exclusive and value == lim):
                rel = f"{word} than" if exclusive else f"{word} than or equal to"
                shown = str(lim) if as_int else go_float(float(lim))
                errs.append(("other", path, data, f"{path} in body should be {rel} {shown}", None))
        return errs

    def _slice(self, data: list[Any], node: SchemaNode, path: str) -> list[_Err]:
        errs: list[_Err] = []
        raw, items = node.raw, node.items()
        if items is not None:
            for i, v in enumerate(data):
                errs += self.check(v, items, f"{path}[{i}]")
        n = len(data)
        min_items, max_items = raw.get("minItems"), raw.get("maxItems")
        if is_int(min_items) and n < min_items:
            msg = f"{path} in body should have at least {min_items} items"
            errs.append(("other", path, n, msg, None))
        if is_int(max_items) and n > max_items:
            msg = f"{path} in body should have at most {max_items} items"
            errs.append(("too_many", path, n, msg, max_items))
        if raw.get("uniqueItems") is True and any(
            deep_equal(a, b) for i, a in enumerate(data) for b in data[i + 1 :]
        ):
            errs.append(("other", path, None, f"{path} in body shouldn't contain duplicates", None))
        return errs

    def _enum(self, data: Any, raw: Mapping[str, Any], path: str) -> list[_Err]:
        enum = raw.get("enum")
        if not isinstance(enum, list) or not enum:
            return []
        if data is not None and any(_enum_match(data, e) for e in enum):
            return []
        return [("enum", path, data, "", enum)]

    def _object(self, data: dict[str, Any], node: SchemaNode, path: str) -> list[_Err]:
        raw, n = node.raw, len(data)
        min_p, max_p = raw.get("minProperties"), raw.get("maxProperties")
        if is_int(min_p) and n < min_p:  # kube-openapi stops at a property-count failure
            return [
                ("other", path, n, f"{path} in body should have at least {min_p} properties", None)
            ]
        if is_int(max_p) and n > max_p:
            return [
                (
                    "too_many",
                    path,
                    n,
                    f"{path} in body should have at most {max_p} properties",
                    max_p,
                )
            ]
        errs: list[_Err] = []
        props = node.properties
        extra = [k for k in data if k not in props]
        ap = node.additional_properties()
        for k in extra:
            if raw.get("additionalProperties") is False:
                errs.append(("other", path, k, f"{path}.{k} in body is a forbidden property", None))
            elif ap is not None:
                errs += self.check(data[k], ap, f"{path}.{k}")
        for name in props:
            if name not in data or (
                name == "metadata" and path == self.root and self.skip_root_meta
            ):
                continue
            sub = node.field(name)
            if sub is not None:
                errs += self.check(data[name], sub, f"{path}.{name}" if path else name)
        for req in raw.get("required") or []:
            if isinstance(req, str) and req not in data:
                errs.append(("required", f"{path}.{req}", None, "", None))
        return errs


def _type_err(path: str, type_name: str, kind: str) -> _Err:
    msg = f"{path} in body must be of type {type_name}: {go_quote(kind)}"
    return ("type", path, kind, msg, None)


def _fewest(results: list[list[_Err]]) -> list[_Err]:
    return sorted(results, key=len)[0]


def _composite(message: str) -> _Err:
    return ("composite", "", "", message, None)


def _enum_match(data: Any, allowed: Any) -> bool:
    if deep_equal(data, allowed):
        return True
    # Go converts the value to the entry's type before comparing; among JSON values only
    # numbers convert into each other (truncating into an integer entry).
    if is_num(data) and is_num(allowed):
        return (int(data) if isinstance(allowed, int) else float(data)) == allowed
    return False
