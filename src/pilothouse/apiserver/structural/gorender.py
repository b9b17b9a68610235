"""Go-style rendering of values, field paths and ``field.Error`` messages.

The real server builds its error messages with Go's ``fmt`` and ``encoding/json``, and
clients and tests compare those messages verbatim, so every structural module renders
through this one:

* :func:`field_error` words a :class:`~pilothouse.apiserver.errors.Cause` as
  ``field.Error.ErrorBody`` does (``Invalid value: 5: must be ...``); :func:`required_or_invalid`
  is the common "Required when empty, else Invalid" pair;
* :func:`child`, :func:`index` and :func:`key` render ``field.Path`` (``spec.items[0]``,
  ``spec.labels[app]``; a ``None`` path is Go's nil path, the resource root), and
  :data:`LazyPath` is the same path built as linked tuples and rendered on demand;
* :func:`go_value` prints a bad value as ``field.Error`` does, through :func:`go_quote`
  (``strconv.Quote``), :func:`go_float` (``%v`` of a float64, ``1e+06``), :func:`go_sharp`
  (``%#v``, ``map[string]interface {}{...}``) and :func:`go_json` (``json.Marshal``);
  :class:`GoRepr` carries a value some caller already rendered.

Design choice: floats are rendered from Python's shortest round-trip ``repr`` digits, which
are the digits Go's ``strconv`` picks too, so only the exponent rules differ per printer.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pilothouse.apiserver.errors import Cause

__all__ = [
    "OMIT",
    "GoRepr",
    "LazyPath",
    "child",
    "field_error",
    "go_float",
    "go_json",
    "go_quote",
    "go_sharp",
    "go_value",
    "index",
    "key",
    "render_path",
    "required_or_invalid",
]

# -- field errors --------------------------------------------------------------------------

#: Marker for "no value in the message" (``field.OmitValueType``).
OMIT: Any = object()


class GoRepr(str):
    """A bad value already rendered the Go way (a struct's ``%#v``), printed verbatim."""


_LABELS = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
_VALUELESS = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}


def field_error(reason: str, field: str | None, detail: str = "", value: Any = OMIT) -> Cause:
    """A cause worded as ``field.Error.ErrorBody``; ``field=None`` is Go's nil path."""
    body = _LABELS[reason]
    if reason not in _VALUELESS and value is not OMIT:
        body = f"{body}: {go_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return Cause(reason, body, "<nil>" if field is None else field)


def required_or_invalid(fld: str, value: str, detail: str) -> Cause:
    """``Required value`` when ``value`` is empty, else ``Invalid value`` showing it."""
    if not value:
        return field_error("FieldValueRequired", fld, detail)
    return field_error("FieldValueInvalid", fld, detail, value)


def child(path: str | None, name: str) -> str:
    """``field.Path.Child``."""
    return name if path is None else f"{path}.{name}"


def index(path: str | None, i: int | str) -> str:
    """``field.Path.Index``."""
    return f"{path or ''}[{i}]"


key = index  # field.Path.Key renders like an index: ``spec.labels[app]``

#: A field path built lazily, for walks that run on every write and rarely report:
#: ``(parent, ".", name)`` is :func:`child`, ``(parent, "[", i)`` is :func:`index`/:func:`key`
#: and ``None`` is the nil path. Extending one costs a tuple; :func:`render_path` renders it
#: exactly as the eager helpers would.
LazyPath = tuple[Any, str, Any] | None


def render_path(loc: LazyPath) -> str | None:
    """The field path ``loc`` denotes (None for the nil path)."""
    steps = []
    while loc is not None:
        loc, sep, name = loc
        steps.append((sep, name))
    path: str | None = None
    for sep, name in reversed(steps):
        path = child(path, name) if sep == "." else index(path, name)
    return path


# -- values --------------------------------------------------------------------------------

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """``strconv.Quote``: printable runes kept, the rest escaped Go-style."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")  # Go decodes lone surrogates to the replacement rune
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        else:
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out) + '"'


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(f)`` and the decimal point position."""
    _, digits, exp = decimal.Decimal(repr(abs(f))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exp, int)
    return ds, len(digits) + exp


def _fixed(ds: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + ds
    if dp >= len(ds):
        return ds + "0" * (dp - len(ds))
    return ds[:dp] + "." + ds[dp:]


def _exp(ds: str, dp: int, width: int = 2) -> str:
    """Exponent form; ``width`` is the least number of exponent digits (``%v`` 2, JSON 1)."""
    x = dp - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{mant}e{'-' if x < 0 else '+'}{abs(x):0{width}d}"


def go_float(f: float) -> str:
    """``%v`` of a float64: shortest digits, exponent below 1e-4 and from 1e+06."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    ds, dp = _digits(f)
    # strconv's shortest 'g': exponent form below 1e-4 and from 1e+06 on.
    return sign + (_exp(ds, dp) if not -4 <= dp - 1 < 6 else _fixed(ds, dp))


def _go_json_float(f: float) -> str:
    if not math.isfinite(f):
        return "null"
    sign = "-" if f < 0 else ""
    if f == 0:
        return "0"
    ds, dp = _digits(f)
    if 1e-6 <= abs(f) < 1e21:
        return sign + _fixed(ds, dp)
    return sign + _exp(ds, dp, width=1)


def _go_json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


class _GoStyle(NamedTuple):
    """How one Go printer spells the parts of a JSON value."""

    nil: str
    fmt_float: Callable[[float], str]
    quote: Callable[[str], str]
    map_open: str
    list_open: str
    map_close: str
    list_close: str
    sep: str


def _go_render(v: Any, style: _GoStyle) -> str:
    if v is None:
        return style.nil
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return style.fmt_float(v)
    if isinstance(v, str):
        return style.quote(v)
    if isinstance(v, Mapping):
        inner = style.sep.join(
            f"{style.quote(str(k))}:{_go_render(v[k], style)}" for k in sorted(v)
        )
        return style.map_open + inner + style.map_close
    if isinstance(v, list | tuple):
        inner = style.sep.join(_go_render(x, style) for x in v)
        return style.list_open + inner + style.list_close
    return style.quote(str(v))


_JSON_STYLE = _GoStyle("null", _go_json_float, _go_json_str, "{", "[", "}", "]", ",")
_SHARP_STYLE = _GoStyle(
    "interface {}(nil)",
    go_float,
    go_quote,
    "map[string]interface {}{",
    "[]interface {}{",
    "}",
    "}",
    ", ",
)


def go_json(v: Any) -> str:
    """``json.Marshal`` of a JSON value (sorted keys, Go number formatting)."""
    return _go_render(v, _JSON_STYLE)


def go_sharp(v: Any) -> str:
    """``%#v`` of a JSON value held in an ``interface{}``."""
    return _go_render(v, _SHARP_STYLE)


def go_value(v: Any) -> str:
    """How ``field.Error`` prints a bad value: simple types plainly, strings quoted, nil
    as ``"null"`` and anything else with ``%#v``."""
    if isinstance(v, GoRepr):
        return str(v)
    if v is None:
        return '"null"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return go_quote(v)
    return go_sharp(v)
