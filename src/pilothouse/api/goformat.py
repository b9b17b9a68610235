"""Go's formatting of values, for messages that must match kube-apiserver's byte for byte.

* :func:`go_quote` is ``strconv.Quote`` (what ``%q`` prints), including Go's handling of
  raw bytes that are not valid UTF-8 (``\\xNN``) and of non-printable runes;
* :func:`go_sprint` is ``fmt.Sprint`` of a decoded JSON value: strings bare, ``true``,
  shortest-exact floats switching to exponent form as ``%v`` does (``1e+06``), maps printed
  as ``map[k:v]`` with sorted keys;
* :func:`go_json` is ``encoding/json``'s compact output with sorted keys and HTML-sensitive
  characters escaped, as ``field.Error`` renders non-scalar values.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Mapping

__all__ = ["go_json", "go_quote", "go_sprint"]

_GO_ESCAPES = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal, as ``%q`` prints it."""
    out = ['"']
    for ch in value:
        escaped = _GO_ESCAPES.get(ch)
        code = ord(ch)
        if escaped is not None:
            out.append(escaped)
        elif 0xDC80 <= code <= 0xDCFF:
            # surrogateescape'd raw byte: Go holds the byte itself and prints it as \xNN.
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        elif ch.isprintable():
            # Python's printable set (letters, marks, numbers, punctuation, symbols and the
            # ASCII space) is exactly Go's unicode.IsPrint.
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_float(value: float) -> str:
    # fmt's %v for float64 is strconv 'g' with the shortest exact digits, switching to
    # exponent form below 1e-4 and from 1e+06 (precision 6 is used for that decision).
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = decimal.Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite by the checks above
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # position of the decimal point within the digits
    prefix = "-" if sign else ""
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def go_sprint(value: object) -> str:
    """``fmt.Sprint`` of a decoded JSON value (strings bare, ``true``, ``1e+06``, ``map[a:1]``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        # Go prints maps with their keys sorted.
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(item) for item in value) + "]"
    return str(value)


def go_json(value: object) -> str:
    """``encoding/json`` output: compact, sorted keys, HTML-sensitive characters escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text
