"""Printing results the way ``kubectl`` does: Go ``fmt`` (``%v``) for scalars and Go
``encoding/json`` -- sorted keys, HTML-escaped -- for maps and lists.

Design choice: floats are printed from their shortest round-trip digits (``repr``), which
is what Go's ``strconv`` works from, then laid out in Go's ``%v`` or JSON style, rather than
relying on Python's own float formatting, whose exponent thresholds differ.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def _float_digits(value: float) -> tuple[str, int, bool]:
    """Shortest round-trip digits of a finite float, the exponent of the first digit, and
    the sign (what Go's strconv works from)."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    assert isinstance(exponent, int)
    return text, len(text) + exponent - 1, bool(sign)


def _exp_format(digits: str, exp: int, negative: bool) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if negative else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fixed_format(digits: str, exp: int, negative: bool) -> str:
    if exp < 0:
        text = "0." + "0" * (-exp - 1) + digits
    elif exp + 1 >= len(digits):
        text = digits + "0" * (exp + 1 - len(digits))
    else:
        text = digits[: exp + 1] + "." + digits[exp + 1 :]
    return ("-" if negative else "") + text


def _go_float(value: float, *, json_style: bool) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    digits, exp, negative = _float_digits(value)
    if digits == "0":
        return "-0" if negative else "0"
    if json_style:  # encoding/json: 'f' unless tiny or huge, then 'e' with e-7 not e-07
        if 1e-6 <= abs(value) < 1e21:
            return _fixed_format(digits, exp, negative)
        return re.sub(r"e-0(\d)$", r"e-\1", _exp_format(digits, exp, negative))
    # fmt %v: 'g' with the shortest digits, exponent form from 1e+06 or below 1e-04.
    if exp < -4 or exp >= 6:
        return _exp_format(digits, exp, negative)
    return _fixed_format(digits, exp, negative)


def _go_json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value, json_style=True)
    if isinstance(value, str):
        # Lone surrogates are invalid UTF-8, which Go replaces; it also escapes HTML.
        text = value.encode("utf-8", "replace").decode("utf-8")
        encoded = json.dumps(text, ensure_ascii=False)
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            encoded = encoded.replace(char, escape)
        return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, Mapping):
        items = (f"{_go_json(str(k))}:{_go_json(value[k])}" for k in sorted(value, key=str))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    return _go_json(str(value))


def format_value(value: Any) -> str:
    """One result as kubectl prints it: JSON for maps and lists, Go ``fmt`` otherwise."""
    if isinstance(value, Mapping | list | tuple):
        return _go_json(value)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value, json_style=False)
    return str(value)
