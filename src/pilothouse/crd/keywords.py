"""The OpenAPI keywords of a CRD schema node: which kube accepts, in which order.

:func:`emit` is the last step of every node :mod:`pilothouse.crd.schema` converts: it keeps
kube's keywords only (whitelisting, so anything pydantic adds in a later version is dropped
rather than rejected by the server) and orders them the way people read schemas --
description, type, format, value constraints, structure, extensions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["EXTENSIONS", "FORMATS", "SCALARS", "emit", "json_type", "without_nulls"]

#: pydantic formats → the format kube validates; anything else is dropped.
FORMATS = {
    f: f
    for f in (
        "date-time", "date", "uuid", "uuid3", "uuid4", "uuid5", "email", "uri", "hostname",
        "ipv4", "ipv6", "cidr", "mac", "byte", "password", "int32", "int64", "float",
        "double",
    )
} | {"ipv4network": "cidr", "ipv6network": "cidr", "ipvanynetwork": "cidr"}  # fmt: skip

#: Kept as they are, in this order (after ``description``, ``type`` and ``format``).
_VALUE_KEYWORDS = (
    "enum", "default", "nullable", "minimum", "exclusiveMinimum", "maximum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems",
    "maxItems", "minProperties", "maxProperties",
)  # fmt: skip
EXTENSIONS = (
    "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations",
)  # fmt: skip
_RULE_KEYS = ("rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf")
SCALARS = ("string", "integer", "number", "boolean")


def emit(node: Mapping[str, Any], kind: str | None) -> dict[str, Any]:
    """The node with kube's keywords only, in a stable, readable order."""
    out: dict[str, Any] = {}
    if node.get("description"):
        out["description"] = node["description"]
    if kind is not None:
        out["type"] = kind
    if "format" in node:
        out["format"] = node["format"]
    for key in _VALUE_KEYWORDS:
        if key in node and node[key] is not None and node[key] is not False:
            out[key] = node[key]
    if node.get("required"):
        out["required"] = node["required"]
    if node.get("properties"):
        out["properties"] = node["properties"]
    for key in ("additionalProperties", "items"):
        if key in node:
            out[key] = node[key]
    for key in EXTENSIONS:
        if node.get(key) not in (None, False, [], ""):
            out[key] = node[key]
    if "x-kubernetes-validations" in out:
        # pydantic sorts keys; put each rule first again, as people write them.
        out["x-kubernetes-validations"] = [
            {k: r[k] for k in _RULE_KEYS if k in r} | r for r in out["x-kubernetes-validations"]
        ]
    return out


def json_type(values: list[Any]) -> str | None:
    """The one JSON type of all ``values``, or None."""
    kinds = set()
    for v in values:
        if isinstance(v, bool):
            kinds.add("boolean")
        elif isinstance(v, int):
            kinds.add("integer")
        elif isinstance(v, float):
            kinds.add("number")
        elif isinstance(v, str):
            kinds.add("string")
        else:
            return None
    if kinds == {"integer", "number"}:
        return "number"
    return kinds.pop() if len(kinds) == 1 else None


def without_nulls(value: Any) -> Any:
    """``value`` without ``None`` members at any depth (what ``exclude_none`` would send)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
