"""Decoded JSON values seen with Go's eyes: kinds, integers and equality.

Python decodes JSON into ``bool``/``int``/``float``/``str``/``list``/``dict``; Go's decoder
and kube-openapi see the same data a little differently, and the validators must follow
Go:

* ``bool`` is an ``int`` in Python but never a number in JSON (:func:`is_int`,
  :func:`is_num`);
* an integer that does not fit an int64 decodes as a float64, so its JSON-schema kind is
  ``number`` (:func:`json_kind`), and kube-openapi accepts a float as an integer when it is
  integral within a small relative slack (:func:`is_json_integer`);
* ``reflect.DeepEqual`` tells ``1``, ``1.0`` and ``true`` apart (:func:`deep_equal`).

:func:`as_object` and :func:`as_array` read possibly ill-typed raw schema fields without
raising, which the CRD schema checks need because they run on unvalidated input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

__all__ = [
    "INT64",
    "as_array",
    "as_object",
    "deep_equal",
    "is_int",
    "is_json_integer",
    "is_num",
    "json_kind",
]

#: The int64 range, inclusive.
INT64 = (-(2**63), 2**63 - 1)


def is_int(v: Any) -> TypeGuard[int]:
    """A JSON integer (not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> TypeGuard[int | float]:
    """A JSON number (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def json_kind(v: Any) -> str:
    """The JSON-schema type kube-openapi infers from a decoded value (integers that do not
    fit an int64 decode as float64, hence ``number``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer" if INT64[0] <= v <= INT64[1] else "number"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def is_json_integer(f: float) -> bool:
    """``swag.IsFloat64AJSONInteger``: integral within 2^53, with a 1e-9 relative slack."""
    if not math.isfinite(f) or abs(f) > 2**53:
        return False
    r = float(round(f))
    return f == r or abs(f - r) <= 1e-9 * max(1.0, abs(f))


def deep_equal(a: Any, b: Any) -> bool:
    """``reflect.DeepEqual`` on decoded JSON: ``1``, ``1.0`` and ``True`` all differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return a is b or bool(a == b)


def as_object(v: Any) -> Mapping[str, Any]:
    """``v`` if it is a mapping, else an empty one."""
    return v if isinstance(v, Mapping) else {}


def as_array(v: Any) -> list[Any]:
    """``v`` if it is a list, else an empty one."""
    return v if isinstance(v, list) else []
