"""``x-kubernetes-validations``: CEL rules on custom resources, evaluated with cel-python.

:func:`validate_cel` walks the object alongside its schema as the server's
``schema/cel.Validator`` does and evaluates each rule with ``self`` bound to the value at
the rule's node. Transition rules (those mentioning ``oldSelf``) run only on updates and
only where an old value correlates: through object properties (unless the map is
``x-kubernetes-map-type: atomic``) and through ``x-kubernetes-list-type: map`` items by key;
``optionalOldSelf`` rules always run, with ``oldSelf`` an optional value. Failures are worded
as the real server words them (1.32): ``Invalid value: "object": <message>`` with the
schema type as value, at the rule's path (or its ``fieldPath``), ``<nil>`` at the root;
``reason`` switches to ``Forbidden``/``Required value``/``Duplicate value``;
``messageExpression`` supplies the message when it evaluates to a usable string.

:func:`compile_errors` is the CRD-write check: the rule metadata checks the server makes
(empty rule, line breaks, reason, fieldPath), syntax, references to undeclared variables,
functions and fields (``self.spce`` is rejected as ``undefined field 'spce'``, following the
schema like cel-go's type checker), and transition rules on uncorrelatable nodes.

Values are converted with the schema, as the server does: ``number`` is always a double,
``format: byte``/``duration``/``date-time``/``date`` become bytes/duration/timestamp, and
property names are escaped (``__dash__``, ``__dot__``, ``__namespace__``...).

Design choices:

* cel-python has no type checker and no cost model; the schema-aware checks above catch
  the usual authoring mistakes, and there is no cost budget.
* Programs are compiled once per expression text and cached; the schema only matters to
  the static checks, which :func:`compile_errors` runs.
* The Kubernetes CEL libraries are provided where cheap: strings (``lowerAscii``,
  ``split``, ``join``...), lists (``isSorted``, ``sum``, ``min``/``max``, ``indexOf``),
  regex (``find``/``findAll``), ``url()``, ``quantity()``, ``sets.*`` and optionals for
  ``optionalOldSelf``; numbers compare across int and double as in cel-go. The ``.?``
  syntax, ``ip``/``cidr`` and ``format`` are missing (cel-python cannot parse ``.?``).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import functools
import itertools
import re
import sys
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, base_functions

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.validate import (
    GoRepr,
    child,
    field_error,
    go_json,
    go_quote,
    index,
    json_kind,
    key,
)

__all__ = ["blocking_error", "compile_errors", "validate_cel"]

_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")
_RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for"}
    | {"function", "if", "import", "let", "loop", "package", "namespace", "return", "var"}
    | {"void", "while"}
)
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_MAX_MESSAGE = 5000

# -- values --------------------------------------------------------------------------------


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


# -- library -------------------------------------------------------------------------------


class _Namespace:
    """A function namespace (``sets.contains``): cel-python parses it as a method call on
    an identifier, so the identifier is bound to this marker and functions dispatch on it."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Optional:
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
        "of": lambda v: _Optional(v, True),
        "none": lambda: _Optional(),
        "ofNonZeroValue": lambda v: _Optional(v, bool(v)),
    },
}


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


_FUNCTIONS = _functions()
_KNOWN_FUNCTIONS = (
    frozenset(_FUNCTIONS) | frozenset(base_functions) | {"has", "dyn", "min"} | _MACROS
)
_KNOWN_IDENTS = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map"})
_KNOWN_IDENTS |= {"null_type", "type", "dyn", "duration", "timestamp"} | set(_NAMESPACED)

# -- compiling -----------------------------------------------------------------------------


@functools.cache
def _env() -> celpy.Environment:
    # celpy raises the process-wide recursion limit as a side effect; rules are small, so
    # the limit is put back rather than changed under everyone else's feet.
    limit = sys.getrecursionlimit()
    env = celpy.Environment()
    sys.setrecursionlimit(limit)
    return env


class _Program:
    def __init__(self, tree: Any, runner: Any, error: str | None) -> None:
        self.tree, self.runner, self.error = tree, runner, error
        self.uses_old_self = tree is not None and any(
            t.data == "ident" and t.children and t.children[0] == "oldSelf"
            for t in tree.iter_subtrees()
        )


def _located(text: str, line: int, col: int, message: str) -> str:
    """A cel-go issue: ``ERROR: <input>:1:6: ...`` plus the source line and a caret."""
    lines = text.split("\n")
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    col = max(col, 1)
    return f"ERROR: <input>:{line}:{col}: {message}\n | {src}\n | {'.' * (col - 1)}^"


@functools.lru_cache(maxsize=4096)
def _compiled(text: str) -> _Program:
    try:
        tree = _env().compile(text)
    except CELParseError as exc:
        cause = exc.__cause__ or exc.__context__
        token, char = getattr(cause, "token", None), getattr(cause, "char", None)
        if char is not None:
            detail = f"Syntax error: token recognition error at: '{char}'"
        elif token is not None:
            detail = f"Syntax error: mismatched input '{token.value or '<EOF>'}'"
        else:
            detail = "Syntax error"
        return _Program(None, None, _located(text, exc.line or 1, exc.column or 1, detail))
    return _Program(tree, _env().program(tree, functions=_FUNCTIONS), None)


_META_VIEW = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
}


def _resource_view(node: SchemaNode) -> SchemaNode:
    """A resource root as rules see it: ``apiVersion``, ``kind`` and a ``metadata`` with
    only ``name`` and ``generateName`` (``model.WithTypeAndObjectMeta``)."""
    props = dict(node.properties)
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props["metadata"] = _META_VIEW
    return SchemaNode(
        {**node.raw, "type": "object", "properties": props}, getattr(node, "_defs", None)
    )


def _cel_type(node: SchemaNode) -> str:
    t, fmt = node.type, node.raw.get("format")
    if t == "array":
        items = node.items()
        return f"list({_cel_type(items) if items else 'dyn'})"
    if t == "string":
        return {"byte": "bytes", "duration": "google.protobuf.Duration"}.get(
            str(fmt), "google.protobuf.Timestamp" if fmt in ("date", "date-time") else "string"
        )
    return {"integer": "int", "number": "double", "boolean": "bool"}.get(t or "", "dyn")


_STRING = SchemaNode({"type": "string"})


class _Checker:
    """The part of cel-go's checker that matters for CRD rules: undeclared identifiers and
    functions, ``has()`` arguments, and field selection against the schema."""

    def __init__(self, text: str, self_node: SchemaNode | None) -> None:
        self.text, self.self_node, self.issues = text, self_node, list[str]()

    def _issue(self, token: Any, message: str, dot: bool = False) -> None:
        line, col = getattr(token, "line", 1) or 1, getattr(token, "column", 1) or 1
        self.issues.append(_located(self.text, line, col - 1 if dot and col > 1 else col, message))

    def visit(self, t: Any, scope: Mapping[str, SchemaNode | None]) -> SchemaNode | None:
        data = getattr(t, "data", None)
        if data is None:
            return None
        kids = t.children
        if data == "ident":
            name = str(kids[0])
            if name in scope:
                return scope[name]
            if name in ("self", "oldSelf"):
                return self.self_node
            if name not in _KNOWN_IDENTS:
                self._issue(kids[0], f"undeclared reference to '{name}' (in container '')")
            return None
        if data == "member_dot":
            return self._select(self.visit(kids[0], scope), kids[1])
        if data == "member_index":
            target = self.visit(kids[0], scope)
            self.visit(kids[1], scope)
            if target is not None and target.type == "array":
                return target.items()
            return target.additional_properties() if target is not None else None
        if data == "member_dot_arg":
            return self._call(kids, scope)
        if data == "ident_arg":
            name = str(kids[0])
            args = kids[1].children if len(kids) > 1 else []
            if name == "has":
                select = _single(args[0], "member_dot") if len(args) == 1 else None
                if select is None:
                    self._issue(kids[0], "invalid argument to has() macro")
            elif name not in _KNOWN_FUNCTIONS:
                self._issue(kids[0], f"undeclared reference to '{name}' (in container '')")
            for a in args:
                self.visit(a, scope)
            return None
        if len(kids) == 1:  # wrappers (member, primary, paren_expr...) keep the type
            return self.visit(kids[0], scope)
        for k in kids:
            self.visit(k, scope)
        return None

    def _call(self, kids: list[Any], scope: Mapping[str, SchemaNode | None]) -> SchemaNode | None:
        name = str(kids[1])
        args = kids[2].children if len(kids) > 2 else []
        target = self.visit(kids[0], scope)
        if name in _MACROS and len(args) >= 2:
            var = _single(args[0], "ident")
            elem = None
            if target is not None and target.type == "array":
                elem = target.items()
            elif target is not None and target.type == "object":
                elem = _STRING
            inner = dict(scope)
            if var is not None:
                inner[str(var.children[0])] = elem
            for a in args[1:]:
                self.visit(a, inner)
            return target if name == "filter" else None
        if name not in _KNOWN_FUNCTIONS:
            self._issue(kids[1], f"undeclared reference to '{name}' (in container '')")
        for a in args:
            self.visit(a, scope)
        return None

    def _select(self, node: SchemaNode | None, token: Any) -> SchemaNode | None:
        name = str(token)
        if node is None or node.int_or_string:
            return None
        if node.type == "object":
            props, ap = node.properties, node.additional_properties()
            if props or ap is None:
                if node.preserve_unknown_fields and not props:
                    return None
                names = {escape(k): k for k in props}
                if name in names:
                    return node.field(names[name])
                self._issue(token, f"undefined field '{name}'", dot=True)
                return None
            return ap
        if node.type is not None:
            self._issue(
                token, f"type '{_cel_type(node)}' does not support field selection", dot=True
            )
        return None


def _single(t: Any, data: str) -> Any:
    """The ``data`` node a single-child chain (``expr > ... > member``) wraps, if any."""
    while getattr(t, "data", None) is not None:
        if t.data == data:
            return t
        if len(t.children) != 1:
            return None
        t = t.children[0]
    return None


def _check_expression(text: str, node: SchemaNode | None) -> str | None:
    program = _compiled(text)
    if program.error is not None:
        return program.error
    checker = _Checker(text, node)
    checker.visit(program.tree, {})
    return "\n".join(checker.issues) or None


# -- evaluating ----------------------------------------------------------------------------


def _runtime_error(exc: BaseException) -> tuple[str, bool]:
    """cel-go's wording for an evaluation error, and whether it is an overload error."""
    args = exc.args
    msg = str(args[0]) if args else str(exc)
    cls = args[1] if len(args) > 1 else type(exc)
    if "overload" in msg:
        return "no such overload", True
    if msg.startswith("no such member") or cls is KeyError:
        m = re.search(r"'([^']*)'", msg) or re.search(r"'([^']*)'", str(args[2:]))
        return f"no such key: {m.group(1) if m else ''}", False
    if msg.startswith("undeclared reference to"):
        m = re.match(r"undeclared reference to '?([^' ]+)", msg)
        return f"undeclared reference to '{m.group(1) if m else ''}' (in container '')", False
    if cls is ZeroDivisionError or "divide by zero" in msg:
        return "division by zero", False
    if cls is IndexError:
        return "index out of range", False
    if "overflow" in msg and "overflow" in str(args[2:]):
        return "integer overflow", False
    return msg, False


_NAMESPACES = {name: _Namespace(name) for name in _NAMESPACED}


def _evaluate(program: _Program, activation: dict[str, Any]) -> Any:
    return program.runner.evaluate({**_NAMESPACES, **activation})


def _message_expression(text: str, activation: dict[str, Any]) -> str | None:
    program = _compiled(text)
    if program.error is not None:
        return None
    try:
        value = _evaluate(program, activation)
    except Exception:  # the static message is used instead, as the server does
        return None
    if not isinstance(value, str):
        return None
    value = value.strip()
    ok = value and "\n" not in value and len(value.encode()) <= _MAX_MESSAGE
    return value if ok else None


def _rule_text(rule: Mapping[str, Any]) -> str:
    message = str(rule.get("message") or "").strip()
    return message or str(rule.get("rule") or "").strip()


def validate_cel(obj: Any, old_obj: Any, schema: SchemaNode, path: str = "") -> list[Cause]:
    """Evaluate every ``x-kubernetes-validations`` rule on ``obj`` (an update when
    ``old_obj`` is not None). ``path`` is the JSON path of ``obj``; ``""`` is the resource
    root, whose own rules fail at field ``<nil>`` as on the real server."""
    out: list[Cause] = []
    _walk(obj, old_obj, schema, schema, path or None, not path, out)
    return out


def _walk(
    obj: Any,
    old: Any,
    rules: SchemaNode,
    types: SchemaNode,
    path: str | None,
    root: bool,
    out: list[Cause],
) -> None:
    if obj is None:
        return
    _rules(obj, old, rules, types, path, root, out)
    for sub in rules.raw.get("allOf") or []:
        if isinstance(sub, Mapping):
            _walk(obj, old, SchemaNode(sub, getattr(rules, "_defs", None)), types, path, root, out)
    if isinstance(obj, dict):
        correlated = isinstance(old, dict) and types.map_type != "atomic"
        ap_rules, ap_types = rules.additional_properties(), types.additional_properties()
        for k, v in obj.items():
            o = old.get(k) if correlated else None
            if ap_rules is not None and ap_types is not None:
                _walk(v, o, ap_rules, ap_types, key(path, k), ap_types.embedded_resource, out)
            if k in rules.properties and k in types.properties:
                r, t = rules.field(k), types.field(k)
                if r is not None and t is not None:
                    _walk(v, o, r, t, child(path, k), t.embedded_resource, out)
    elif isinstance(obj, list):
        r_items, t_items = rules.items(), types.items()
        if r_items is None or t_items is None:
            return
        olds = _map_list(old, types) if types.list_type == "map" else {}
        for i, v in enumerate(obj):
            o = olds.get(_list_key(v, types)) if isinstance(v, dict) else None
            _walk(v, o, r_items, t_items, index(path, i), t_items.embedded_resource, out)


def _list_key(item: Mapping[str, Any], node: SchemaNode) -> str:
    items = node.items()
    defaults = items.properties if items is not None else {}
    return go_json(
        [item.get(k, (defaults.get(k) or {}).get("default")) for k in node.list_map_keys]
    )


def _map_list(old: Any, node: SchemaNode) -> dict[str, Any]:
    if not isinstance(old, list):
        return {}
    return {_list_key(x, node): x for x in old if isinstance(x, dict)}


def _rules(
    obj: Any,
    old: Any,
    rules: SchemaNode,
    types: SchemaNode,
    path: str | None,
    root: bool,
    out: list[Cause],
) -> None:
    listed = rules.raw.get("x-kubernetes-validations")
    if not isinstance(listed, list) or not listed:
        return
    sts_type = types.type or ""
    activation: dict[str, Any] = {"self": to_cel(obj, types, root)}
    old_value = to_cel(old, types, root) if old is not None else None
    for rule in listed:
        if not isinstance(rule, Mapping) or not str(rule.get("rule") or "").strip():
            continue
        program = _compiled(str(rule["rule"]))
        if program.error is not None:
            detail = f"rule compile error: {program.error}"
            out.append(field_error("FieldValueInvalid", path, detail, sts_type))
            continue
        optional = rule.get("optionalOldSelf") is True
        if program.uses_old_self and old is None and not optional:
            continue  # transition rules need a correlated old value
        scope = dict(activation)
        if optional:
            scope["oldSelf"] = _Optional(old_value, old is not None)
        elif old is not None:
            scope["oldSelf"] = old_value
        try:
            result = _evaluate(program, scope)
        except Exception as exc:  # CEL errors and library failures alike
            text, overload = _runtime_error(exc)
            if overload:
                detail = (
                    f"'{text}': call arguments did not match a supported operator, function or "
                    f"macro signature for rule: {_rule_text(rule)}"
                )
            else:
                detail = f"{text} evaluating rule: {_rule_text(rule)}"
            out.append(field_error("FieldValueInvalid", path, detail, sts_type))
            continue
        if isinstance(result, celtypes.BoolType) and bool(result):
            continue
        out.append(_failure(rule, scope, types, path, sts_type))


def _failure(
    rule: Mapping[str, Any],
    scope: dict[str, Any],
    types: SchemaNode,
    path: str | None,
    sts_type: str,
) -> Cause:
    fld = path
    field_path = rule.get("fieldPath")
    if isinstance(field_path, str) and field_path.strip():
        normalized, _ = valid_field_path(field_path.strip(), types)
        if normalized:
            fld = child(path, normalized)
    detail = None
    if isinstance(rule.get("messageExpression"), str) and rule["messageExpression"].strip():
        detail = _message_expression(rule["messageExpression"], scope)
    if detail is None:
        message = str(rule.get("message") or "").strip()
        detail = message or f"failed rule: {_rule_text(rule)}"
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return field_error("FieldValueForbidden", fld, detail)
    if reason == "FieldValueRequired":
        return field_error("FieldValueRequired", fld, detail)
    if reason == "FieldValueDuplicate":
        return field_error("FieldValueDuplicate", fld, value=sts_type)
    return field_error("FieldValueInvalid", fld, detail, sts_type)


def blocking_error(causes: Sequence[Cause]) -> Cause | None:
    """The cause the server reports instead of running rules when schema validation found
    type, required, enum, length or count errors (``hasBlockingErr``), or None."""
    blocking = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong"}
    blocking |= {"FieldValueTooMany", "FieldValueTypeInvalid"}
    if not any(c.reason in blocking for c in causes):
        return None
    detail = (
        "some validation rules were not checked because the object was invalid; correct "
        "the existing errors to complete validation"
    )
    return field_error("FieldValueInvalid", None, detail, None)


# -- CRD checks ----------------------------------------------------------------------------

_SINGLE_QUOTE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SINGLE_QUOTE_ESCAPES |= {"v": "\v", "'": "'", "\\": "\\"}


def valid_field_path(json_path: str, node: SchemaNode) -> tuple[str | None, str | None]:
    """``cel.ValidFieldPath``: the field path a rule's ``fieldPath`` (``.spec.x``,
    ``['a.b']``) denotes below ``node``, or the reason it is invalid."""
    tokens = re.findall(r"'(?:[^'\\]|\\.)*'|[.\[\]]|[^.\[\]']+", json_path)
    path: str | None = None
    current: SchemaNode | None = node
    i = 0

    def step(name: str) -> str | None:
        nonlocal path, current
        if current is None:
            return "does not refer to a valid field"
        if "properties" in current.raw:
            if name not in current.properties:
                return "does not refer to a valid field"
            path, current = child(path, name), current.field(name)
        elif current.additional_properties() is not None:
            path, current = key(path, name), current.additional_properties()
        else:
            return "does not refer to a valid field"
        return None

    while i < len(tokens):
        tok = tokens[i]
        if tok == ".":
            if i + 1 >= len(tokens):
                return None, "unexpected end of JSON path"
            problem, i = step(tokens[i + 1]), i + 2
        elif tok == "[":
            if i + 2 >= len(tokens):
                return None, "unexpected end of JSON path"
            quoted = tokens[i + 1]
            if len(quoted) < 2 or quoted[0] != "'" or quoted[-1] != "'":
                return None, f"expected single quoted string but got {quoted}"
            bad = re.search(r"\\[^abfnrtv'\\]", quoted[1:-1])
            if bad:
                return None, f"invalid string literal: invalid escape char {bad.group(0)}"
            name = re.sub(r"\\(.)", lambda m: _SINGLE_QUOTE_ESCAPES[m.group(1)], quoted[1:-1])
            if tokens[i + 2] != "]":
                return None, f"expected ] but got {tokens[i + 2]}"
            problem, i = step(name), i + 3
        else:
            return None, f"expected [ or . but got: {tok}"
        if problem:
            return None, problem
    return path, None


def _rule_repr(rule: Mapping[str, Any]) -> GoRepr:
    """``%#v`` of the internal ValidationRule, as the server prints it in CRD errors (its
    pointer addresses cannot be reproduced; a fixed one stands in)."""

    def text(name: str) -> str:
        return go_quote(str(rule.get(name) or ""))

    addr = "(0xc000a1b2c0)"
    reason = "(nil)" if rule.get("reason") is None else addr
    optional = "(nil)" if rule.get("optionalOldSelf") is None else addr
    return GoRepr(
        f"apiextensions.ValidationRule{{Rule:{text('rule')}, Message:{text('message')}, "
        f"MessageExpression:{text('messageExpression')}, "
        f"Reason:(*apiextensions.FieldValueErrorReason){reason}, FieldPath:{text('fieldPath')}, "
        f"OptionalOldSelf:(*bool){optional}}}"
    )


def compile_errors(
    schema: SchemaNode | Mapping[str, Any], path: str = "spec.validation.openAPIV3Schema"
) -> list[Cause]:
    """The ``x-kubernetes-validations`` errors of a CRD version's ``openAPIV3Schema``, with
    fields under ``path`` (``spec.versions[0].schema.openAPIV3Schema`` for v1 CRDs)."""
    node = schema if isinstance(schema, SchemaNode) else SchemaNode(schema)
    out: list[Cause] = []
    _check_node(node, path, True, None, False, out)
    return out


def _check_node(
    node: SchemaNode,
    path: str,
    resource: bool,
    uncorrelatable: str | None,
    junctor: bool,
    out: list[Cause],
) -> None:
    _check_rules(node, path, resource, uncorrelatable, junctor, out)
    ap = node.additional_properties()
    if ap is not None:
        _check_node(
            ap, f"{path}.additionalProperties", ap.embedded_resource, uncorrelatable, junctor, out
        )
    for name in node.properties:
        sub = node.field(name)
        if sub is not None:
            forbid = uncorrelatable or (path if node.map_type == "atomic" else None)
            _check_node(
                sub, f"{path}.properties[{name}]", sub.embedded_resource, forbid, junctor, out
            )
    for junction in ("allOf", "oneOf", "anyOf"):
        for i, raw in enumerate(node.raw.get(junction) or []):
            if isinstance(raw, Mapping):
                sub = SchemaNode(raw, getattr(node, "_defs", None))
                _check_node(sub, f"{path}.{junction}[{i}]", False, uncorrelatable, True, out)
    if isinstance(node.raw.get("not"), Mapping):
        sub = SchemaNode(node.raw["not"], getattr(node, "_defs", None))
        _check_node(sub, f"{path}.not", False, uncorrelatable, True, out)
    items = node.items()
    if items is not None:
        forbid = uncorrelatable or (path if node.list_type != "map" else None)
        _check_node(items, f"{path}.items", items.embedded_resource, forbid, junctor, out)


def _has_newlines(s: str) -> bool:
    return "\n" in s or "\r" in s


def _check_rules(
    node: SchemaNode,
    path: str,
    resource: bool,
    uncorrelatable: str | None,
    junctor: bool,
    out: list[Cause],
) -> None:
    listed = node.raw.get("x-kubernetes-validations")
    if not isinstance(listed, list):
        return
    schema_errors: list[Cause] = []
    for i, rule in enumerate(listed):
        base = f"{path}.x-kubernetes-validations[{i}]"
        rule = rule if isinstance(rule, Mapping) else {}
        text, message = str(rule.get("rule") or ""), str(rule.get("message") or "")
        if not text.strip():
            schema_errors.append(
                field_error("FieldValueRequired", f"{base}.rule", "rule is not specified")
            )
        elif message and not message.strip():
            detail = "message must be non-empty if specified"
            schema_errors.append(
                field_error("FieldValueInvalid", f"{base}.message", detail, message)
            )
        elif _has_newlines(message.strip()):
            detail = "message must not contain line breaks"
            schema_errors.append(
                field_error("FieldValueInvalid", f"{base}.message", detail, message)
            )
        elif _has_newlines(text.strip()) and not message.strip():
            detail = "message must be specified if rule contains line breaks"
            schema_errors.append(field_error("FieldValueRequired", f"{base}.message", detail))
        expr = str(rule.get("messageExpression") or "")
        if expr and not expr.strip():
            detail = "messageExpression must be non-empty if specified"
            schema_errors.append(
                field_error("FieldValueRequired", f"{base}.messageExpression", detail)
            )
        reason = rule.get("reason")
        if reason is not None and reason not in _REASONS:
            detail = "supported values: " + ", ".join(go_quote(r) for r in _REASONS)
            schema_errors.append(
                field_error("FieldValueNotSupported", f"{base}.reason", detail, reason)
            )
        field_path = str(rule.get("fieldPath") or "")
        if field_path and not field_path.strip():
            detail = "fieldPath must be non-empty if specified"
            schema_errors.append(
                field_error("FieldValueInvalid", f"{base}.fieldPath", detail, field_path)
            )
        if _has_newlines(field_path):
            detail = "fieldPath must not contain line breaks"
            schema_errors.append(
                field_error("FieldValueInvalid", f"{base}.fieldPath", detail, field_path)
            )
        if field_path and valid_field_path(field_path, node)[1] is not None:
            detail = "fieldPath must be a valid path"
            schema_errors.append(
                field_error("FieldValueInvalid", f"{base}.fieldPath", detail, field_path)
            )
    out.extend(schema_errors)
    if schema_errors or junctor:
        return  # the server compiles rules only on a clean, typed node
    view = _resource_view(node) if resource else node
    for i, rule in enumerate(listed):
        base = f"{path}.x-kubernetes-validations[{i}]"
        text = str(rule.get("rule"))
        problem = _check_expression(text, view)
        if problem is not None:
            detail = f"compilation failed: {problem}"
            out.append(field_error("FieldValueInvalid", f"{base}.rule", detail, _rule_repr(rule)))
        expr = str(rule.get("messageExpression") or "")
        if expr.strip() and (problem := _check_expression(expr, view)) is not None:
            detail = f"messageExpression compilation failed: {problem}"
            out.append(
                field_error(
                    "FieldValueInvalid", f"{base}.messageExpression", detail, _rule_repr(rule)
                )
            )
        program = _compiled(text)
        if program.uses_old_self and uncorrelatable is not None:
            detail = (
                "oldSelf cannot be used on the uncorrelatable portion of the schema within "
                + uncorrelatable
            )
            out.append(field_error("FieldValueInvalid", f"{base}.rule", detail, text))
        elif not program.uses_old_self and rule.get("optionalOldSelf") is not None:
            detail = "may not be set if oldSelf is not used in rule"
            out.append(
                field_error(
                    "FieldValueInvalid", f"{base}.optionalOldSelf", detail, rule["optionalOldSelf"]
                )
            )
