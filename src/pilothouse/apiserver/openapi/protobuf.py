"""The gnostic ``openapi_v2.Document`` protobuf encoding of a Swagger 2.0 document, the only
form in which client-go fetches ``/openapi/v2``.

Field numbers are those of gnostic's OpenAPIv2.proto. A table maps a JSON key to (field
number, encoder); keys starting with "x-" go to the message's vendor_extension field as
NamedAny. proto3 omits default scalars, except inside a oneof.

Design choices: a table-driven encoder (no protobuf dependency or generated code); vendor
extensions, ``default``, ``enum`` and ``example`` are gnostic ``Any`` messages whose ``yaml``
field holds JSON text, which kube-openapi decodes as YAML.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from typing import Any

_Enc = Callable[[int, Any], bytes]


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64s are ten-byte two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(no: int, wire: int) -> bytes:
    return _varint(no << 3 | wire)


def _ld(no: int, data: bytes) -> bytes:
    return _key(no, 2) + _varint(len(data)) + data


def _p_str(no: int, v: Any) -> bytes:
    return _ld(no, str(v).encode()) if v not in (None, "") else b""


def _p_bool(no: int, v: Any) -> bytes:
    return _key(no, 0) + b"\x01" if v else b""


def _p_int(no: int, v: Any) -> bytes:
    return _key(no, 0) + _varint(int(v)) if v else b""


def _p_double(no: int, v: Any) -> bytes:
    return _key(no, 1) + struct.pack("<d", float(v)) if v else b""


def _p_strs(no: int, v: Any) -> bytes:
    return b"".join(_ld(no, str(s).encode()) for s in v)


def _any(v: Any) -> bytes:
    # Any{yaml = 2}: JSON is valid YAML, and kube-openapi decodes these with a YAML decoder.
    return _ld(2, json.dumps(v).encode())


def _p_any(no: int, v: Any) -> bytes:
    return _ld(no, _any(v))


def _p_anys(no: int, v: Any) -> bytes:
    return b"".join(_p_any(no, x) for x in v)


def _p_msg(enc: Callable[[Any], bytes]) -> _Enc:
    return lambda no, v: _ld(no, enc(v))


def _p_msgs(enc: Callable[[Any], bytes]) -> _Enc:
    return lambda no, v: b"".join(_ld(no, enc(x)) for x in v)


def _p_named(enc: Callable[[Any], bytes]) -> _Enc:
    """A JSON object as repeated ``Named*{name = 1; value = 2}``."""
    return lambda no, v: b"".join(_ld(no, _p_str(1, k) + _ld(2, enc(x))) for k, x in v.items())


def _p_map(enc: Callable[[Any], bytes]) -> _Enc:
    """A message holding only ``repeated Named* additional_properties = 1``."""
    return lambda no, v: _ld(no, _p_named(enc)(1, v))


def _fields(obj: Mapping[str, Any], table: Mapping[str, tuple[int, _Enc]], ext: int) -> bytes:
    out = [enc(no, obj[key]) for key, (no, enc) in table.items() if key in obj]
    out += [_ld(ext, _p_str(1, k) + _ld(2, _any(v))) for k, v in obj.items() if k.startswith("x-")]
    return b"".join(out)


def _message(table: Mapping[str, tuple[int, _Enc]], ext: int) -> Callable[[Any], bytes]:
    return lambda v: _fields(v, table, ext)


def _pb_schema(s: Mapping[str, Any]) -> bytes:
    return _fields(s, _SCHEMA, 31)


def _pb_additional(no: int, v: Any) -> bytes:
    if isinstance(v, bool):  # oneof {Schema schema = 1; bool boolean = 2}: false is encoded
        return _ld(no, _key(2, 0) + _varint(int(v)))
    return _ld(no, _ld(1, _pb_schema(v)))


def _pb_type(no: int, v: Any) -> bytes:
    return _ld(no, _p_strs(1, [v] if isinstance(v, str) else v))


def _pb_items(no: int, v: Any) -> bytes:
    return _ld(no, b"".join(_ld(1, _pb_schema(x)) for x in (v if isinstance(v, list) else [v])))


def _pb_parameter(p: Mapping[str, Any]) -> bytes:
    """``Parameter``: oneof body = 1 / non-body = 2 (header 1, formData 2, query 3, path 4)."""
    where = p.get("in")
    if where == "body":
        return _ld(1, _fields(p, _BODY, 6))
    sub = {"header": 1, "formData": 2, "query": 3, "path": 4}.get(str(where), 3)
    table, ext = (_QUERY, 23) if sub in (2, 3) else (_PATH, 22)
    return _ld(2, _ld(sub, _fields(p, table, ext)))


def _pb_parameters_item(p: Mapping[str, Any]) -> bytes:
    return _ld(2, _p_str(1, p["$ref"])) if "$ref" in p else _ld(1, _pb_parameter(p))


def _pb_response(r: Mapping[str, Any]) -> bytes:
    return _fields(r, _RESPONSE, 5)


def _pb_responses(v: Mapping[str, Any]) -> bytes:
    def value(r: Mapping[str, Any]) -> bytes:
        return _ld(2, _p_str(1, r["$ref"])) if "$ref" in r else _ld(1, _pb_response(r))

    codes = {k: r for k, r in v.items() if not k.startswith("x-")}
    return _p_named(value)(1, codes) + _fields(v, {}, 2)


def _pb_paths(v: Mapping[str, Any]) -> bytes:
    paths = {k: p for k, p in v.items() if not k.startswith("x-")}
    return _fields(v, {}, 1) + _p_named(_message(_PATH_ITEM, 10))(2, paths)


def _pb_security_scheme(v: Mapping[str, Any]) -> bytes:
    if v.get("type") == "basic":
        return _ld(1, _fields(v, _numbered("type description"), 3))
    return _ld(2, _fields(v, _numbered("type name in description"), 5))


# fmt: off
_ENCODERS: dict[str, _Enc] = {
    "allowEmptyValue": _p_bool, "type": _p_str, "format": _p_str, "collectionFormat": _p_str,
    "default": _p_any, "maximum": _p_double, "exclusiveMaximum": _p_bool, "minimum": _p_double,
    "exclusiveMinimum": _p_bool, "maxLength": _p_int, "minLength": _p_int, "pattern": _p_str,
    "maxItems": _p_int, "minItems": _p_int, "uniqueItems": _p_bool, "enum": _p_anys,
    "multipleOf": _p_double, "required": _p_bool, "in": _p_str, "description": _p_str,
    "name": _p_str, "title": _p_str, "url": _p_str, "$ref": _p_str, "summary": _p_str,
    "operationId": _p_str, "tags": _p_strs, "produces": _p_strs, "consumes": _p_strs,
    "schemes": _p_strs, "deprecated": _p_bool, "swagger": _p_str, "host": _p_str,
    "basePath": _p_str, "version": _p_str, "termsOfService": _p_str,
    "items": lambda no, v: _ld(no, _fields(v, _PRIMITIVES, 18)),
    "externalDocs": lambda no, v: _ld(no, _fields(v, _numbered("description url"), 3)),
}


def _numbered(names: str, start: int = 1) -> dict[str, tuple[int, _Enc]]:
    """Consecutive field numbers from ``start``; ``-`` skips a number."""
    return {n: (start + i, _ENCODERS[n]) for i, n in enumerate(names.split()) if n != "-"}


_VALIDATION = ("type format items collectionFormat default maximum exclusiveMaximum minimum "
               "exclusiveMinimum maxLength minLength pattern maxItems minItems uniqueItems enum "
               "multipleOf")
_PRIMITIVES: dict[str, tuple[int, _Enc]] = _numbered(_VALIDATION)
_QUERY = _numbered("required in description name allowEmptyValue " + _VALIDATION)
_PATH = _numbered("required in description name " + _VALIDATION)
_BODY = {**_numbered("description name in required"), "schema": (5, _p_msg(_pb_schema))}
_RESPONSE = {"description": (1, _p_str), "schema": (2, _p_msg(lambda s: _ld(1, _pb_schema(s))))}
_SCHEMA: dict[str, tuple[int, _Enc]] = {
    **_numbered("$ref format title description default multipleOf maximum exclusiveMaximum "
                "minimum exclusiveMinimum maxLength minLength pattern maxItems minItems "
                "uniqueItems"),
    "maxProperties": (17, _p_int), "minProperties": (18, _p_int), "required": (19, _p_strs),
    "enum": (20, _p_anys), "additionalProperties": (21, _pb_additional), "type": (22, _pb_type),
    "items": (23, _pb_items), "allOf": (24, _p_msgs(_pb_schema)),
    "properties": (25, _p_map(_pb_schema)), "discriminator": (26, _p_str),
    "readOnly": (27, _p_bool), **_numbered("externalDocs", 29), "example": (30, _p_any),
}
_SECURITY_REQUIREMENT = _p_msgs(lambda req: _p_named(lambda scopes: _p_strs(1, scopes))(1, req))
_OPERATION = {
    **_numbered("tags summary description externalDocs operationId produces consumes"),
    "parameters": (8, _p_msgs(_pb_parameters_item)), "responses": (9, _p_msg(_pb_responses)),
    **_numbered("schemes deprecated", 10), "security": (12, _SECURITY_REQUIREMENT),
}
_PATH_ITEM = {
    "$ref": (1, _p_str), "parameters": (9, _p_msgs(_pb_parameters_item)),
    **{m: (i, _p_msg(_message(_OPERATION, 13)))
       for i, m in enumerate(("get", "put", "post", "delete", "options", "head", "patch"), 2)},
}
_DOCUMENT = {
    **_numbered("swagger - host basePath schemes consumes produces"),
    "info": (2, _p_msg(_message(_numbered("title version description termsOfService"), 7))),
    "paths": (8, _p_msg(_pb_paths)), "definitions": (9, _p_map(_pb_schema)),
    "parameters": (10, _p_map(_pb_parameter)), "responses": (11, _p_map(_pb_response)),
    "security": (12, _SECURITY_REQUIREMENT),
    "securityDefinitions": (13, _p_map(_pb_security_scheme)),
    "tags": (14, _p_msgs(_message(_numbered("name description externalDocs"), 4))),
    **_numbered("externalDocs", 15),
}
# fmt: on


def v2_protobuf(doc: Mapping[str, Any]) -> bytes:
    """A Swagger 2.0 document as a serialized gnostic ``openapi.v2.Document``."""
    return _fields(doc, _DOCUMENT, 16)
