"""JSON type checks for built-in kinds: the errors Go's JSON decoder would raise.

Built-in kinds are not validated against an OpenAPI schema. The real server decodes them
into Go structs before any validation, so a wrong JSON type is a 400 ``BadRequest``
(``Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal
string into Go struct field DeploymentSpec.spec.replicas of type int32``), never a 422.
:func:`validate_builtin_types` reproduces those decode errors from the kind's OpenAPI
definition, including the messages of the custom unmarshalers (``IntOrString``,
``Quantity``, ``Time``/``MicroTime``; ``RawExtension``, ``JSON`` and ``FieldsV1`` take
anything).

Design choices (this runs on every built-in write, so it is built for the valid case):

* what the walk needs to know about a schema node (its Go type kind, ``$ref`` name,
  integer range, declared fields) is computed once into a :class:`_Decoder`; decoders hang
  off their parent, and root decoders are kept in a small cache keyed by the root
  :class:`~pilothouse.apiserver.schemas.SchemaNode` (built-in roots live for the process);
* paths are carried as linked tuples and rendered only when an error is reported, so a
  valid object costs no string building.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode, builtin_definition_name
from pilothouse.apiserver.structural.gorender import LazyPath, go_json, go_quote, render_path
from pilothouse.apiserver.structural.jsonvalues import is_int, is_num, json_kind

__all__ = ["validate_builtin_types"]

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_ERR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FREE_FORM = {"RawExtension", "JSON", "FieldsV1"}
_UNMARSHALERS = {"IntOrString", "Quantity", "Time", "MicroTime"}
_JSON_NAMES = {"boolean": "bool", "string": "string", "array": "array", "object": "object"}
_TIME_LAYOUTS = {
    "Time": "2006-01-02T15:04:05Z07:00",
    "MicroTime": "2006-01-02T15:04:05.000000Z07:00",
}

# -- messages ------------------------------------------------------------------------------


def _json_name(v: Any) -> str:
    """How Go's decoder names a JSON value in ``cannot unmarshal <...>``."""
    kind = json_kind(v)
    return "number" if kind in ("integer", "number") else _JSON_NAMES.get(kind, kind)


def _literal(v: Any) -> str:
    return go_json(v) if not isinstance(v, float) or not v.is_integer() else repr(v)


def _go_type(raw: Any, node: SchemaNode) -> str:
    """The Go type a schema node decodes into (``int32``, ``[]v1.Container``...)."""
    ref = raw.get("$ref") if isinstance(raw, Mapping) else None
    if isinstance(ref, str):
        parts = ref.rsplit("/", 1)[-1].split(".")
        return ".".join(parts[-2:])
    t, fmt = node.type, node.raw.get("format")
    if t == "array":
        items = node.items()
        return "[]" + (_go_type(node.raw.get("items"), items) if items else "interface {}")
    if t == "object":
        ap = node.additional_properties()
        return "map[string]" + (
            _go_type(node.raw.get("additionalProperties"), ap) if ap else "interface {}"
        )
    if t == "integer":
        return "int32" if fmt == "int32" else "int64"
    if t == "number":
        return "float32" if fmt == "float" else "float64"
    return {"string": "[]uint8" if fmt == "byte" else "string", "boolean": "bool"}.get(
        t or "", "interface {}"
    )


# A location in the object, rendered only for errors: a struct field ``(parent, ".", name)``
# extends both the JSON path and Go's field path, a map entry or list item
# ``(parent, "[", key)`` the JSON path only.
_Loc = tuple[Any, str, Any]


def _go_field_path(loc: _Loc) -> str:
    names = []
    at: LazyPath = loc
    while at is not None:
        at, sep, name = at
        if sep == ".":
            names.append(name)
    fpath = ""
    for name in reversed(names):
        fpath = f"{fpath}.{name}" if fpath else name
    return fpath


def _fail(out: list[Cause], loc: _Loc, message: str) -> None:
    out.append(Cause("FieldValueTypeInvalid", message, render_path(loc) or ""))


def _mismatch(out: list[Cause], d: _Decoder, struct: str, loc: _Loc, what: str) -> None:
    go_type = _go_type(d.raw, d.node)
    fpath = _go_field_path(loc)
    _fail(
        out,
        loc,
        f"json: cannot unmarshal {what} into Go struct field {struct}.{fpath} of type {go_type}",
    )


# -- decoders ------------------------------------------------------------------------------


class _Fields(dict[str, "_Decoder | None"]):
    """The decoders of a struct's declared fields, built on first use."""

    def __init__(self, build: Callable[[str], _Decoder | None]) -> None:
        super().__init__()
        self.build = build

    def __missing__(self, name: str) -> _Decoder | None:
        decoder = self[name] = self.build(name)
        return decoder


_UNSET: Any = object()


class _Decoder:
    """How one schema node decodes: ``kind`` is the JSON type it expects, ``free`` for
    free-form values, or the name of a custom unmarshaler; ``raw`` is the node's schema as
    its parent wrote it (with the ``$ref`` naming the Go type)."""

    __slots__ = (
        "_ap",
        "_items",
        "byte",
        "fields",
        "int_range",
        "kind",
        "node",
        "props",
        "raw",
        "short",
        "trivial",
    )

    def __init__(self, raw: Any, node: SchemaNode) -> None:
        self.raw, self.node = raw, node
        ref = raw.get("$ref") if isinstance(raw, Mapping) else None
        self.short: str = ref.rsplit(".", 1)[-1] if isinstance(ref, str) else ""
        if self.short in _FREE_FORM:
            self.kind = "free"
        elif self.short in _UNMARSHALERS:
            self.kind = self.short
        else:
            self.kind = node.type or ""
        self.props = node.properties
        self.fields = _Fields(self._field)
        self.byte = node.raw.get("format") == "byte"
        bits = 32 if node.raw.get("format") == "int32" else 64
        self.int_range = (-(2 ** (bits - 1)), 2 ** (bits - 1))
        # Values of exactly this type need no check (the common case, skipped inline).
        self.trivial: type | None = {"string": None if self.byte else str, "boolean": bool}.get(
            self.kind
        )
        self._ap: _Decoder | None = _UNSET
        self._items: _Decoder | None = _UNSET

    def _field(self, name: str) -> _Decoder | None:
        sub = self.node.field(name)
        return _Decoder(self.props[name], sub) if sub is not None else None

    def additional(self) -> _Decoder | None:
        if self._ap is _UNSET:
            ap = self.node.additional_properties()
            raw = self.node.raw.get("additionalProperties")
            self._ap = _Decoder(raw, ap) if ap is not None else None
        return self._ap

    def items(self) -> _Decoder | None:
        if self._items is _UNSET:
            items = self.node.items()
            self._items = _Decoder(self.node.raw.get("items"), items) if items is not None else None
        return self._items


_ROOTS: dict[SchemaNode, tuple[_Decoder, str, str]] = {}
_MAX_ROOTS = 256


def _root(schema: SchemaNode) -> tuple[_Decoder, str, str]:
    """The root decoder of ``schema`` with the kind and apiVersion its definition names."""
    root = _ROOTS.get(schema)
    if root is None:
        props = schema.properties
        kind = (props.get("kind") or {}).get("enum") or [""]
        api = (props.get("apiVersion") or {}).get("enum") or [""]
        if len(_ROOTS) >= _MAX_ROOTS:  # roots are few; a full cache means throwaway schemas
            _ROOTS.clear()
        root = _ROOTS[schema] = (_Decoder(schema.raw, schema), kind[0], api[0])
    return root


# -- decoding ------------------------------------------------------------------------------


def validate_builtin_types(obj: Any, schema: SchemaNode) -> list[Cause]:
    """JSON type mismatches that make the real server's decoder reject a built-in object.

    Each cause carries the Go message (from ``json: cannot unmarshal`` on) as ``message``,
    the JSON path of the offending value as ``field`` and ``FieldValueTypeInvalid`` as
    reason. The decoder reports only the first mismatch, so callers should too; custom
    unmarshalers (IntOrString, Quantity, Time) produce their own messages as in Go.
    """
    root, kind, api = _root(schema)
    if not isinstance(obj, dict):
        name = builtin_definition_name(str(api), str(kind)) if kind and api else None
        go_type = ".".join(name.split(".")[-2:]) if name else "map[string]interface {}"
        msg = f"json: cannot unmarshal {_json_name(obj)} into Go value of type {go_type}"
        return [Cause("FieldValueTypeInvalid", msg, "<nil>")]
    out: list[Cause] = []
    _decode_fields(obj, root, str(kind), None, out)
    return out


def _decode_fields(
    obj: dict[str, Any], d: _Decoder, struct: str, loc: LazyPath, out: list[Cause]
) -> None:
    props, fields = d.props, d.fields
    for k, v in obj.items():
        # Nulls decode as zero values; undeclared fields are pruning's business.
        if v is None or k not in props or (sub := fields[k]) is None:
            continue
        if type(v) is not sub.trivial:
            _decode(v, sub, struct, (loc, ".", k), out)


def _decode(v: Any, d: _Decoder, struct: str, loc: _Loc, out: list[Cause]) -> None:
    """Check non-null ``v`` against decoder ``d``; ``struct`` is the enclosing Go struct."""
    kind = d.kind
    if kind == "string":
        if not isinstance(v, str):
            _mismatch(out, d, struct, loc, _json_name(v))
        elif d.byte:
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                _fail(out, loc, "illegal base64 data at input byte 0")
    elif kind == "object":
        if not isinstance(v, dict):
            _mismatch(out, d, struct, loc, _json_name(v))
        elif d.props:
            _decode_fields(v, d, d.short or struct, loc, out)
        elif (ap := d.additional()) is not None:
            trivial = ap.trivial
            for k, x in v.items():
                if x is not None and type(x) is not trivial:
                    _decode(x, ap, struct, (loc, "[", k), out)
    elif kind == "array":
        if not isinstance(v, list):
            _mismatch(out, d, struct, loc, _json_name(v))
        elif (items := d.items()) is not None:
            trivial = items.trivial
            for i, x in enumerate(v):
                if x is not None and type(x) is not trivial:
                    _decode(x, items, struct, (loc, "[", i), out)
    elif kind == "integer":
        lo, hi = d.int_range
        if not is_num(v):
            _mismatch(out, d, struct, loc, _json_name(v))
        elif not is_int(v) or not lo <= v < hi:
            _mismatch(out, d, struct, loc, f"number {_literal(v)}")
    elif kind == "number":
        if not is_num(v):
            _mismatch(out, d, struct, loc, _json_name(v))
    elif kind == "boolean":
        if not isinstance(v, bool):
            _mismatch(out, d, struct, loc, _json_name(v))
    elif kind in _UNMARSHALERS:
        _unmarshal(v, kind, loc, out)


def _unmarshal(v: Any, kind: str, loc: _Loc, out: list[Cause]) -> None:
    """The custom unmarshalers of apimachinery types, with their own messages."""
    if kind == "IntOrString":
        if not isinstance(v, str) and not (is_int(v) and -(2**31) <= v < 2**31):
            what = _json_name(v) if not is_num(v) else f"number {_literal(v)}"
            _fail(out, loc, f"json: cannot unmarshal {what} into Go value of type int32")
    elif kind == "Quantity":
        text = v if isinstance(v, str) else _literal(v) if is_num(v) else go_json(v)
        if not _QUANTITY.match(text.strip()):
            _fail(out, loc, _QUANTITY_ERR)
    elif not isinstance(v, str):  # Time, MicroTime
        _fail(out, loc, f"json: cannot unmarshal {_json_name(v)} into Go value of type string")
    elif not _RFC3339.match(v):
        layout = _TIME_LAYOUTS[kind]
        _fail(
            out,
            loc,
            f'parsing time {go_quote(v)} as "{layout}": cannot parse {go_quote(v)} as "2006"',
        )
