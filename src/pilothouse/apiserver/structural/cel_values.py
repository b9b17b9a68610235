"""JSON values as the CEL values the server binds to ``self``, typed by the schema.

The server does not hand CEL plain JSON: it converts each value with its schema
(``apiserver/schema/cel/model``), and rules depend on that:

* ``number`` is always a double, ``integer`` an int (a JSON float that is integral under an
  ``integer`` schema included); ``format: byte``/``duration``/``date-time``/``date``
  strings become bytes/duration/timestamp, and an invalid one stays a string (schema
  validation reports it);
* object properties are exposed under their escaped CEL names (:func:`escape`:
  ``__dash__``, ``__dot__``, ``__namespace__``...), properties without a CEL name are
  hidden, and undeclared fields of a structural object are not visible at all;
* a resource root or embedded resource also exposes ``apiVersion``, ``kind`` and
  ``metadata``.

Design choice: values are converted at each node that has rules, from the value at that
node, rather than once for the whole object, so objects without rules pay nothing.
"""

from __future__ import annotations

import base64
import datetime
import re
from typing import Any

from celpy import celtypes

from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.jsonvalues import json_kind

__all__ = ["escape", "to_cel"]

_RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for"}
    | {"function", "if", "import", "let", "loop", "package", "namespace", "return", "var"}
    | {"void", "while"}
)


def escape(name: str) -> str | None:
    """``cel.Escape``: the CEL identifier for a property name, None if it has none."""
    if not name or name[0].isdigit():
        return None
    if name in _RESERVED:
        return f"__{name}__"
    if not re.fullmatch(r"[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*", name):
        return None
    table = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
    return re.sub(r"__|[.\-/]", lambda m: table[m.group(0)], name)


def _scalar(v: Any, node: SchemaNode | None) -> Any:
    t = node.type if node is not None else None
    fmt = node.raw.get("format") if node is not None else None
    if isinstance(v, bool):
        return celtypes.BoolType(v)
    if isinstance(v, int | float):
        integral = t == "integer" and float(v).is_integer() and -(2**63) <= v < 2**63
        if t == "number" or (json_kind(v) == "number" and not integral):
            return celtypes.DoubleType(float(v))
        return celtypes.IntType(int(v))
    if isinstance(v, str) and t == "string":
        try:
            if fmt == "byte":
                return celtypes.BytesType(base64.b64decode(v, validate=True))
            if fmt == "duration":
                return celtypes.DurationType(v)
            if fmt in ("date-time", "datetime"):
                return celtypes.TimestampType(v)
            if fmt == "date":
                return celtypes.TimestampType(
                    datetime.datetime.fromisoformat(v).replace(tzinfo=datetime.UTC)
                )
        except Exception:  # an invalid value stays a string; validation reports it
            return celtypes.StringType(v)
    return celtypes.StringType(v) if isinstance(v, str) else v


def to_cel(v: Any, node: SchemaNode | None, resource: bool = False) -> Any:
    """A JSON value as the CEL value the server would bind for ``node``; a ``resource``
    (root or embedded) also exposes ``apiVersion``, ``kind`` and ``metadata``."""
    if isinstance(v, dict):
        props = node.properties if node is not None else {}
        resource = resource or (node is not None and node.embedded_resource)
        if props or resource:
            out = {}
            for k, x in v.items():
                name = escape(k) if k in props else None
                if name is not None and node is not None:
                    out[celtypes.StringType(name)] = to_cel(x, node.field(k))
            if resource:
                for k in ("apiVersion", "kind", "metadata"):
                    if k in v and k not in props:
                        out[celtypes.StringType(k)] = to_cel(v[k], None)
            return celtypes.MapType(out)
        ap = node.additional_properties() if node is not None else None
        return celtypes.MapType({celtypes.StringType(k): to_cel(x, ap) for k, x in v.items()})
    if isinstance(v, list):
        items = node.items() if node is not None else None
        return celtypes.ListType([to_cel(x, items) for x in v])
    return _scalar(v, node)
