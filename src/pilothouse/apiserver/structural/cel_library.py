"""The Kubernetes CEL function library, for cel-python.

cel-python implements the CEL standard; the server adds the Kubernetes libraries on top
(``k8s.io/apiserver/pkg/cel/library``) and rules use them freely. This module provides them
as cel-python function overrides (:data:`FUNCTIONS`):

* strings: ``charAt``, ``indexOf``/``lastIndexOf``, ``lowerAscii``/``upperAscii``,
  ``replace``, ``split``, ``substring``, ``trim``, ``join``, ``reverse``;
* lists: ``isSorted``, ``sum``, ``min``/``max``, ``indexOf``/``lastIndexOf``;
* regex: ``find``, ``findAll``;
* ``quantity()``/``isQuantity()`` and the Quantity methods, ``url()``/``isURL()`` and the
  URL getters;
* ``sets.contains``/``equivalent``/``intersects`` and ``optional.of``/``none``/
  ``ofNonZeroValue`` with ``hasValue``/``value``/``orValue`` (for ``optionalOldSelf``).

Design choices:

* cel-python parses ``sets.contains(a, b)`` as a method call on an identifier ``sets``, so
  namespaces are bound as marker values (:data:`NAMESPACES`, added to every activation)
  and the functions dispatch on them, falling back to the method of the same name;
* the comparison operators are replaced so that numbers compare across int and double as
  in cel-go (``1 == 1.0``), including inside lists and maps;
* :data:`KNOWN_FUNCTIONS` and :data:`KNOWN_IDENTS` are what the static checker accepts
  as declared; ``ip``/``cidr``, ``format`` and the ``.?`` syntax are not provided.
"""

from __future__ import annotations

import decimal
import itertools
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError, base_functions

from pilothouse.apiserver.structural.gorender import go_quote

__all__ = [
    "FUNCTIONS",
    "KNOWN_FUNCTIONS",
    "KNOWN_IDENTS",
    "MACROS",
    "NAMESPACES",
    "OptionalValue",
    "parse_quantity",
]

#: The comprehension macros (their first argument is a bound variable).
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})

# -- value types ---------------------------------------------------------------------------


class _Namespace:
    """A function namespace (``sets.contains``): cel-python parses it as a method call on
    an identifier, so the identifier is bound to this marker and functions dispatch on it."""

    def __init__(self, name: str) -> None:
        self.name = name


class OptionalValue:
    """A CEL ``optional``: ``oldSelf`` of ``optionalOldSelf`` rules, ``optional.of(x)``."""

    def __init__(self, value: Any = None, present: bool = False) -> None:
        self.value, self.present = value, present


class _Quantity:
    def __init__(self, value: decimal.Decimal) -> None:
        self.value = value


class _URL:
    def __init__(self, parts: urllib.parse.SplitResult) -> None:
        self.parts = parts


def _fail(message: str) -> CELEvalError:
    return CELEvalError(message)


# -- functions -----------------------------------------------------------------------------

_SUFFIXES: dict[str, decimal.Decimal] = {
    "": decimal.Decimal(1),
    "n": decimal.Decimal("1e-9"),
    "u": decimal.Decimal("1e-6"),
    "m": decimal.Decimal("1e-3"),
}
_SUFFIXES |= {s: decimal.Decimal(10) ** (3 * (i + 1)) for i, s in enumerate("kMGTPE")}
_SUFFIXES |= {s + "i": decimal.Decimal(2) ** (10 * (i + 1)) for i, s in enumerate("KMGTPE")}


def parse_quantity(s: str) -> decimal.Decimal | None:
    """A Kubernetes resource quantity (``100m``, ``1.5Gi``, ``2e3``), or None."""
    m = re.fullmatch(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eEinumkKMGTP]*[-+]?[0-9]*)", s)
    if m is None:
        return None
    number, suffix = decimal.Decimal(m.group(1)), m.group(2)
    if suffix in _SUFFIXES:
        return number * _SUFFIXES[suffix]
    e = re.fullmatch(r"[eE]([-+]?[0-9]+)", suffix)
    return number.scaleb(int(e.group(1))) if e else None


def _quantity(s: Any) -> Any:
    q = parse_quantity(str(s))
    return _Quantity(q) if q is not None else _fail("quantities must match the regular expression")


def _qv(x: Any) -> decimal.Decimal:
    return x.value if isinstance(x, _Quantity) else decimal.Decimal(int(x))


def _url(s: Any) -> Any:
    parts = urllib.parse.urlsplit(str(s))
    if not (parts.scheme or str(s).startswith("/")):
        why = f"parse {go_quote(str(s))}: invalid URI for request"
        return _fail(f"URL parse error during conversion from string: {why}")
    return _URL(parts)


def _index_of(x: Any, sub: Any, offset: Any = 0, last: bool = False) -> Any:
    if isinstance(x, str):
        i = x.rfind(sub) if last else x.find(sub, int(offset))
        return celtypes.IntType(i)
    seq = list(x)
    idx = [i for i, v in enumerate(seq) if _equal(v, sub)]
    return celtypes.IntType((idx[-1] if last else idx[0]) if idx else -1)


def _split(s: str, sep: str, n: int = -1) -> Any:
    if n == 0:
        return celtypes.ListType([])
    parts = s.split(sep, n - 1) if n > 0 else s.split(sep) if sep else list(s)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _replace(s: str, old: str, new: str, n: int = -1) -> Any:
    return celtypes.StringType(s.replace(old, new, n if n >= 0 else -1))


def _substring(s: str, start: int, end: int | None = None) -> Any:
    end = len(s) if end is None else int(end)
    if not 0 <= int(start) <= end <= len(s):
        return _fail(f"index out of range: {end if end > len(s) else start}")
    return celtypes.StringType(s[int(start) : end])


def _find_all(s: str, pattern: str, n: int = -1) -> Any:
    found = [m.group(0) for m in re.finditer(pattern, s)]
    return celtypes.ListType([celtypes.StringType(x) for x in (found if n < 0 else found[:n])])


def _is_sorted(xs: Sequence[Any]) -> Any:
    return celtypes.BoolType(all(not _less(b, a) for a, b in itertools.pairwise(xs)))


def _extreme(xs: Sequence[Any], pick_max: bool) -> Any:
    if not xs:
        return _fail(f"{'max' if pick_max else 'min'}(list) argument must not be empty")
    best = xs[0]
    for x in xs[1:]:
        if _less(best, x) if pick_max else _less(x, best):
            best = x
    return best


def _sum(xs: Sequence[Any]) -> Any:
    if any(isinstance(x, float) for x in xs):
        return celtypes.DoubleType(sum(float(x) for x in xs))
    total: Any = celtypes.IntType(0)
    for x in xs:
        total = total + x  # IntType arithmetic reports int64 overflow
    return total


_NAMESPACED: dict[str, dict[str, Callable[..., Any]]] = {
    "sets": {
        "contains": lambda a, b: celtypes.BoolType(all(any(_equal(x, y) for y in a) for x in b)),
        "equivalent": lambda a, b: celtypes.BoolType(
            all(any(_equal(x, y) for y in b) for x in a)
            and all(any(_equal(x, y) for y in a) for x in b)
        ),
        "intersects": lambda a, b: celtypes.BoolType(any(_equal(x, y) for x in a for y in b)),
    },
    "optional": {
        "of": lambda v: OptionalValue(v, True),
        "none": lambda: OptionalValue(),
        "ofNonZeroValue": lambda v: OptionalValue(v, bool(v)),
    },
}


# -- equality and ordering, as cel-go ------------------------------------------------------


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool | celtypes.BoolType)


def _equal(a: Any, b: Any) -> bool:
    if _num(a) and _num(b):
        return bool(a == b) if type(a) is type(b) else float(a) == float(b)
    if isinstance(a, _Quantity) and isinstance(b, _Quantity):
        return a.value == b.value
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(base_functions["_==_"](a, b))


def _less(a: Any, b: Any) -> bool:
    if _num(a) and _num(b) and type(a) is not type(b):
        return float(a) < float(b)
    return bool(base_functions["_<_"](a, b))


def _compare(op: str) -> Callable[[Any, Any], Any]:
    def fn(a: Any, b: Any) -> Any:
        for arg in (a, b):
            if isinstance(arg, CELEvalError):  # errors propagate through operators
                return arg
        if op in ("==", "!="):
            return celtypes.BoolType(_equal(a, b) == (op == "=="))
        lt, gt = _less(a, b), _less(b, a)
        return celtypes.BoolType({"<": lt, ">": gt, "<=": not gt, ">=": not lt}[op])

    return fn


# -- the function table --------------------------------------------------------------------

_METHODS: dict[str, Callable[..., Any]] = {
    "_==_": _compare("=="),
    "_!=_": _compare("!="),
    "_<_": _compare("<"),
    "_<=_": _compare("<="),
    "_>_": _compare(">"),
    "_>=_": _compare(">="),
    "charAt": lambda s, i: (
        celtypes.StringType(s[i : i + 1]) if 0 <= i <= len(s) else _fail("index out of range")
    ),
    "indexOf": _index_of,
    "lastIndexOf": lambda x, sub, *_: _index_of(x, sub, last=True),
    "lowerAscii": lambda s: celtypes.StringType(
        "".join(c.lower() if c.isascii() else c for c in s)
    ),
    "upperAscii": lambda s: celtypes.StringType(
        "".join(c.upper() if c.isascii() else c for c in s)
    ),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda s: celtypes.StringType(s.strip()),
    "join": lambda xs, sep="": celtypes.StringType(str(sep).join(str(x) for x in xs)),
    "reverse": lambda s: celtypes.StringType(s[::-1]),
    "find": lambda s, p: celtypes.StringType(m.group(0) if (m := re.search(p, s)) else ""),
    "findAll": _find_all,
    "isSorted": _is_sorted,
    "sum": _sum,
    "max": lambda xs, *rest: _extreme(list(xs) + list(rest) if rest else list(xs), True),
    "quantity": _quantity,
    "isQuantity": lambda s: celtypes.BoolType(parse_quantity(str(s)) is not None),
    "sign": lambda q: celtypes.IntType((q.value > 0) - (q.value < 0)),
    "isInteger": lambda q: celtypes.BoolType(q.value == q.value.to_integral_value()),
    "asInteger": lambda q: (
        celtypes.IntType(int(q.value))
        if q.value == q.value.to_integral_value() and abs(q.value) < 2**63
        else _fail("cannot convert value to integer")
    ),
    "asApproximateFloat": lambda q: celtypes.DoubleType(float(q.value)),
    "add": lambda q, o: _Quantity(q.value + _qv(o)),
    "sub": lambda q, o: _Quantity(q.value - _qv(o)),
    "isGreaterThan": lambda q, o: celtypes.BoolType(q.value > o.value),
    "isLessThan": lambda q, o: celtypes.BoolType(q.value < o.value),
    "compareTo": lambda q, o: celtypes.IntType((q.value > o.value) - (q.value < o.value)),
    "url": _url,
    "isURL": lambda s: celtypes.BoolType(not isinstance(_url(s), CELEvalError)),
    "getScheme": lambda u: celtypes.StringType(u.parts.scheme),
    "getHost": lambda u: celtypes.StringType(u.parts.netloc.rsplit("@", 1)[-1]),
    "getHostname": lambda u: celtypes.StringType(u.parts.hostname or ""),
    "getPort": lambda u: celtypes.StringType(str(u.parts.port or "")),
    "getEscapedPath": lambda u: celtypes.StringType(u.parts.path),
    "getQuery": lambda u: celtypes.MapType(
        {
            celtypes.StringType(k): celtypes.ListType([celtypes.StringType(x) for x in v])
            for k, v in urllib.parse.parse_qs(u.parts.query, keep_blank_values=True).items()
        }
    ),
    "hasValue": lambda o: celtypes.BoolType(o.present),
    "value": lambda o: o.value if o.present else _fail("optional.none() dereference"),
    "orValue": lambda o, d: o.value if o.present else d,
}


def _dispatching(name: str, fallback: Callable[..., Any] | None) -> Callable[..., Any]:
    def fn(first: Any, *args: Any) -> Any:
        if isinstance(first, _Namespace):
            return _NAMESPACED[first.name][name](*args)
        if fallback is None:
            raise TypeError(name)
        return fallback(first, *args)

    return fn


def _functions() -> dict[str, Callable[..., Any]]:
    funcs = dict(_METHODS)
    for names in _NAMESPACED.values():
        for name in names:
            funcs[name] = _dispatching(name, funcs.get(name) or base_functions.get(name))
    return funcs


#: The function overrides programs are built with.
FUNCTIONS = _functions()
#: Functions and macros the static checker treats as declared.
KNOWN_FUNCTIONS = frozenset(FUNCTIONS) | frozenset(base_functions) | {"has", "dyn", "min"} | MACROS
#: Identifiers the static checker treats as declared (type names and namespaces).
KNOWN_IDENTS = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map"})
KNOWN_IDENTS |= {"null_type", "type", "dyn", "duration", "timestamp"} | set(_NAMESPACED)

#: The namespace markers every activation binds (``sets``, ``optional``).
NAMESPACES = {name: _Namespace(name) for name in _NAMESPACED}
