"""The kubectl / client-go JSONPath dialect (``k8s.io/client-go/util/jsonpath``).

This is the dialect of ``kubectl get -o jsonpath=...``, of CRD ``additionalPrinterColumns``
and of custom columns -- *not* RFC 9535 JSONPath. A template mixes literal text with
``{actions}``; an action is a path (``.spec.replicas``, ``['key']``, ``[n]``,
``[start:end:step]``, ``[*]``, ``..`` recursive descent, ``.*``, unions ``[a,b]``, filters
``[?(@.type=="Ready")]``), a quoted string, or the ``range``/``end`` keywords.

Design choices:

* **Faithful to client-go, quirks included**, because a printer column that shows a value
  here and nothing on a real cluster (or the reverse) is a bug for the operator author. So
  ``['a.b']`` is the two fields ``a`` and ``b`` exactly as upstream (escape the dot:
  ``['a\\.b']`` or ``.a\\.b``); ``[*]`` on a map is an error; comparisons need both sides
  of the same kind (an int field never equals ``1.0``); a string is a list of UTF-8 bytes
  for ``.*`` and ``..``. Map iteration, random in Go, follows insertion order here.
* The parser mirrors upstream's hand-written scanner (same terminators, same escape and
  quote rules, same error texts) but runs as loops instead of tail recursion, so input
  length never hits Python's recursion limit; nesting is bounded by the grammar itself.
* Evaluation errors carry the partial result Go returns alongside its error, because an
  existence filter (``[?(@.x)]``) keeps an element whenever that partial result is
  non-empty, even on error.
* ``find`` returns plain JSON values; :func:`format_value` prints one the way ``kubectl``
  does (Go ``fmt`` for scalars, Go ``encoding/json`` -- sorted keys, HTML-escaped -- for
  maps and lists), which the Table printer needs for string columns.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["JsonPath", "JsonPathError", "format_value", "parse", "parse_template"]


class JsonPathError(ValueError):
    """A template that does not parse, or (with missing keys disallowed, or on a type
    mismatch) one that fails to evaluate."""


class _EvalError(JsonPathError):
    def __init__(self, message: str, partial: list[Any]) -> None:
        super().__init__(message)
        self.partial = partial


# -- syntax tree ---------------------------------------------------------------------------


@dataclass
class _List:
    nodes: list[_Node] = field(default_factory=list)


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Param:
    value: int = 0
    known: bool = False
    derived: bool = False


@dataclass(frozen=True)
class _Array:
    params: tuple[_Param, _Param, _Param]


@dataclass(frozen=True)
class _Filter:
    left: _List
    right: _List
    op: str


@dataclass(frozen=True)
class _Literal:
    value: int | float | bool


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _Union:
    lists: tuple[_List, ...]


@dataclass(frozen=True)
class _Identifier:
    name: str


_Node = (
    _List
    | _Text
    | _Field
    | _Array
    | _Filter
    | _Literal
    | _Wildcard
    | _Recursive
    | _Union
    | _Identifier
)

# -- parser --------------------------------------------------------------------------------

_EOF = ""
_DICT_KEY = re.compile(r"'([^']*)'")
_SLICE = re.compile(r"(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?")
_FILTER = re.compile(r"([^!<>=]+)([!<>=]+)(.+?)")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_INT64 = 1 << 63


def _atoi(value: str) -> int | None:
    """Go's strconv.Atoi (64-bit): optional sign, ASCII digits, in range; else None."""
    if not _INT.fullmatch(value) or len(value.lstrip("+-").lstrip("0")) > 19:
        return None
    number = int(value)
    return number if -_INT64 <= number < _INT64 else None


def _is_terminator(r: str) -> bool:
    return r == _EOF or r in " \t\r\n.,[]$@{}"


def _is_alnum(r: str) -> bool:
    # Go's unicode.IsLetter / IsDigit (category L / Nd); EOF is neither.
    return r == "_" or (r != _EOF and (r.isalpha() or r.isdecimal()))


def _describe_rune(r: str) -> str:
    code = f"U+{ord(r):04X}"
    return f"{code} '{r}'" if r.isprintable() else code


class _Parser:
    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.width = 0
        self.root = _List()

    # Scanner primitives, as upstream: next/backup/peek over runes, consume since `start`.
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.input[self.pos - 1]

    def backup(self) -> None:
        self.pos -= self.width

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def consume(self) -> str:
        value = self.input[self.start : self.pos]
        self.start = self.pos
        return value

    def parse(self) -> _List:
        while True:
            idx = self.input.find("{", self.pos)
            if idx < 0:
                if len(self.input) > self.start:
                    self.root.nodes.append(_Text(self.input[self.start :]))
                return self.root
            if idx > self.start:
                self.root.nodes.append(_Text(self.input[self.start : idx]))
            self.pos = idx + 1
            self.start = self.pos
            action = _List()
            self.root.nodes.append(action)
            self._inside_action(action)

    def _inside_action(self, cur: _List) -> None:
        while True:
            rest = self.input[self.pos : self.pos + 3]
            if rest.startswith("}"):
                self.pos += 1
                self.start = self.pos
                return
            if rest == "[?(":
                self._filter(cur)
                continue
            if rest.startswith(".."):
                self._recursive(cur)
                continue
            r = self.next()
            if r == _EOF or r in "\r\n":
                raise JsonPathError("unclosed action")
            if r in " @$":  # spaces and the current-object markers carry no meaning
                self.consume()
            elif r == "[":
                self._array(cur)
            elif r in "\"'":
                self._quote(cur, r)
            elif r == ".":
                self._field(cur)
            elif r in "+-" or r.isdecimal():
                self.backup()
                self._number(cur)
            elif _is_alnum(r):
                self.backup()
                self._identifier(cur)
            else:
                raise JsonPathError(f"unrecognized character in action: {_describe_rune(r)}")

    def _identifier(self, cur: _List) -> None:
        while not _is_terminator(self.next()):
            pass
        self.backup()
        value = self.consume()
        if value in ("true", "false"):
            cur.nodes.append(_Literal(value == "true"))
        else:
            cur.nodes.append(_Identifier(value))

    def _recursive(self, cur: _List) -> None:
        if cur.nodes and isinstance(cur.nodes[-1], _Recursive):
            raise JsonPathError("invalid multiple recursive descent")
        self.pos += 2
        self.consume()
        cur.nodes.append(_Recursive())
        if _is_alnum(self.peek()):
            self._field(cur)

    def _number(self, cur: _List) -> None:
        if self.peek() in ("+", "-"):
            self.next()
        while True:
            r = self.next()
            if r != "." and not r.isdecimal():
                self.backup()
                break
        value = self.consume()
        integer = _atoi(value)
        if integer is not None:
            cur.nodes.append(_Literal(integer))
            return
        if _FLOAT.fullmatch(value) and math.isfinite(number := float(value)):
            cur.nodes.append(_Literal(number))
            return
        raise JsonPathError(f"cannot parse number {value}")

    def _array(self, cur: _List) -> None:
        while True:
            r = self.next()
            if r in (_EOF, "\n"):
                raise JsonPathError("unterminated array")
            if r == "]":
                break
        text = self.consume()[1:-1]
        if text == "*":
            text = ":"
        parts = text.split(",")
        if len(parts) > 1:
            lists = tuple(_parse_action(f"[{part.strip(' ')}]") for part in parts)
            cur.nodes.append(_Union(lists))
            return
        key = _DICT_KEY.fullmatch(text)
        if key is not None:
            # Upstream re-parses 'key' as the path `.key`: dots in it split fields.
            cur.nodes.extend(_parse_action(f".{key.group(1)}").nodes)
            return
        m = _SLICE.fullmatch(text)
        if m is None:
            raise JsonPathError(f"invalid array index {text}")
        raw = [g or "" for g in m.groups()]
        params: list[_Param] = []
        for i, value in enumerate(raw):
            if value and i > 0:
                value = value[1:]
                if not value:
                    params.append(_Param())
                    continue
            if value:
                index = _atoi(value)
                if index is None:
                    raise JsonPathError(f"array index {value} is not a number")
                params.append(_Param(index, known=True))
            elif i == 1:
                # `[n]` is the slice `[n:n+1]`, flagged so that `[-1]` reaches the end.
                params.append(_Param(params[0].value + 1, known=True, derived=True))
            else:
                params.append(_Param())
        cur.nodes.append(_Array((params[0], params[1], params[2])))

    def _filter(self, cur: _List) -> None:
        self.pos += 3
        self.consume()
        begin = end = False
        pair = ""
        while True:
            r = self.next()
            if r in (_EOF, "\n"):
                raise JsonPathError("unterminated filter")
            if r in "\"'":
                if not begin:
                    begin, pair = True, r
                elif self.input[self.pos - 2] != "\\" and r == pair:
                    end = True
            elif r == ")" and begin == end:
                break
        if self.next() != "]":
            raise JsonPathError("unclosed array expect ]")
        text = self.consume()[:-2]
        m = _FILTER.fullmatch(text)
        if m is None:
            cur.nodes.append(_Filter(_parse_action(text), _List(), "exists"))
        else:
            left, op, right = m.groups()
            cur.nodes.append(_Filter(_parse_action(left), _parse_action(right), op))

    def _quote(self, cur: _List, end: str) -> None:
        while True:
            r = self.next()
            if r in (_EOF, "\n"):
                raise JsonPathError("unterminated quoted string")
            if r == end and self.input[self.pos - 2] != "\\":
                break
        value = self.consume()
        try:
            cur.nodes.append(_Text(_unquote(value)))
        except ValueError as err:
            raise JsonPathError(f"unquote string {value} error {err}") from None

    def _field(self, cur: _List) -> None:
        self.consume()
        while True:
            r = self.next()
            if r == "\\":
                self.next()
            elif _is_terminator(r):
                self.backup()
                break
        value = self.consume()
        cur.nodes.append(_Wildcard() if value == "*" else _Field(value.replace("\\", "")))


def _parse_action(text: str) -> _List:
    node = _Parser("{" + text + "}").parse().nodes[0]
    assert isinstance(node, _List)
    return node


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote(s: str) -> str:
    """Go's strconv.Unquote, extended to single-quoted strings (upstream UnquoteExtend)."""
    quote, body = s[0], s[1:-1]
    if "\\" not in body and quote not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == quote:
            raise ValueError("invalid syntax")
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("invalid syntax")
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in "'\"":
            if e != quote:
                raise ValueError("invalid syntax")
            out.append(ord(e))
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + n]
            if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            i += n
            value = int(digits, 16)
            if e == "x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out += chr(value).encode()
        elif e in "01234567":
            digits = body[i - 1 : i + 2]
            if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(digits, 8))
            i += 2
        else:
            raise ValueError("invalid syntax")
    # \x and octal escapes are raw bytes in Go; invalid UTF-8 prints as U+FFFD.
    return out.decode("utf-8", "replace")


# -- evaluation ----------------------------------------------------------------------------


def _go_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return {bool: "bool", int: "int64", float: "float64", str: "string"}.get(
        type(value), "interface {}"
    )


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        return list(value.encode("utf-8", "surrogatepass"))
    return []


def _kind(value: Any) -> str:
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("string", str)):
        if isinstance(value, types):
            return kind
    raise JsonPathError("invalid type for comparison")


def _compare(op: str, left: Any, right: Any) -> bool:
    """text/template's eq/ne/lt/le/gt/ge: same basic kind on both sides, or an error."""
    kl, kr = _kind(left), _kind(right)
    if kl != kr:
        raise JsonPathError("incompatible types for comparison")
    if op in ("==", "!="):
        return bool(left == right) == (op == "==")
    if kl == "bool":
        raise JsonPathError("invalid type for comparison")
    # Go defines > as not <=, and >= as not <.
    less, equal = bool(left < right), bool(left == right)
    return {"<": less, "<=": less or equal, ">": not (less or equal), ">=": not less}[op]


class _Run:
    """One evaluation: the range/end bookkeeping of upstream's FindResults."""

    def __init__(self, nodes: list[_Node], allow_missing_keys: bool) -> None:
        self.nodes = nodes
        self.allow_missing = allow_missing_keys
        self.begin_range = self.in_range = self.end_range = 0
        self.last_end = -1

    def results(self, start: int, data: Any) -> list[list[Any]]:
        full: list[list[Any]] = []
        i = start
        while i < len(self.nodes):
            results = self.walk([data], self.nodes[i])
            if 0 < self.end_range <= self.in_range:
                self.end_range -= 1
                self.last_end = i
                break
            if self.begin_range > 0:
                self.begin_range -= 1
                self.in_range += 1
                for value in results:
                    full.extend(self.results(i + 1, value))
                if not results:
                    # Still walk the body so the matching {end} is found.
                    self.results(i + 1, None)
                self.in_range -= 1
                # Resume after the end node; without one the body runs again out here,
                # as upstream does.
                if self.last_end > i:
                    i = self.last_end
            else:
                full.append(results)
            i += 1
        return full

    def walk(self, values: list[Any], node: _Node) -> list[Any]:
        match node:
            case _List():
                for child in node.nodes:
                    values = self.walk(values, child)
                return values
            case _Text():
                return [node.text]
            case _Literal():
                return [node.value] * len(values)
            case _Field():
                return self.field(values, node.name)
            case _Array():
                return self.array(values, node.params)
            case _Filter():
                return self.filter(values, node)
            case _Wildcard():
                return [child for v in values if v is not None for child in _children(v)]
            case _Recursive():
                return self.recursive(values)
            case _Union():
                out: list[Any] = []
                for lst in node.lists:
                    try:
                        out.extend(self.walk(values, lst))
                    except _EvalError as err:
                        raise _EvalError(str(err), values) from None
                return out
            case _Identifier():
                return self.identifier(values, node.name)
        raise AssertionError(node)  # pragma: no cover

    def identifier(self, values: list[Any], name: str) -> list[Any]:
        if name == "range":
            self.begin_range += 1
            return values
        if name == "end":
            if self.in_range > 0:
                self.end_range += 1
                return []
            raise _EvalError("not in range, nothing to end", [])
        raise _EvalError(f"unrecognized identifier {name}", values)

    def field(self, values: list[Any], name: str) -> list[Any]:
        results = [v[name] for v in values if isinstance(v, Mapping) and name in v]
        if not results and values and not self.allow_missing:
            raise _EvalError(f"{name} is not found", [])
        return results

    def array(self, values: list[Any], params: tuple[_Param, _Param, _Param]) -> list[Any]:
        result: list[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list | tuple):
                raise _EvalError(f"{_go_type(value)} is not array or slice", values)
            n = len(value)
            start = params[0].value if params[0].known else 0
            if start < 0:
                start += n
            end = params[1].value if params[1].known else n
            if end < 0 or (end == 0 and params[1].derived):
                end += n
            if start == end:
                return result  # upstream returns here, dropping later inputs
            if not 0 <= start < n:
                raise _EvalError(f"array index out of bounds: index {start}, length {n}", values)
            if not 0 <= end <= n:
                raise _EvalError(f"array index out of bounds: index {end - 1}, length {n}", values)
            if start > end:
                raise _EvalError(
                    f"starting index {start} is greater than ending index {end}", values
                )
            step = 1
            if params[2].known:
                if params[2].value <= 0:
                    raise _EvalError("step must be > 0", values)
                step = params[2].value
            result.extend(value[start:end:step])
        return result

    def filter(self, values: list[Any], node: _Filter) -> list[Any]:
        results: list[Any] = []
        for value in values:
            if not isinstance(value, list | tuple):
                shown = format_value(value) if value is not None else "<invalid reflect.Value>"
                raise _EvalError(f"{shown} is not array or slice and cannot be filtered", values)
            for item in value:
                try:
                    lefts, failure = self.walk([item], node.left), None
                except _EvalError as err:
                    lefts, failure = err.partial, err
                if node.op == "exists":
                    if lefts:
                        results.append(item)
                    continue
                if failure is not None:
                    raise _EvalError(str(failure), values)
                if not lefts:
                    continue
                if len(lefts) > 1:
                    raise _EvalError("can only compare one element at a time", values)
                try:
                    rights = self.walk([item], node.right)
                except _EvalError as err:
                    raise _EvalError(str(err), values) from None
                if not rights:
                    continue
                if len(rights) > 1:
                    raise _EvalError("can only compare one element at a time", values)
                if node.op not in ("==", "!=", "<", ">", "<=", ">="):
                    raise _EvalError(f"unrecognized filter operator {node.op}", results)
                try:
                    passed = _compare(node.op, lefts[0], rights[0])
                except JsonPathError as err:
                    raise _EvalError(str(err), results) from None
                if passed:
                    results.append(item)
        return results

    @staticmethod
    def recursive(values: list[Any]) -> list[Any]:
        # Pre-order walk keeping every value that has children; iterative so that deep
        # documents cannot exhaust the interpreter stack.
        out: list[Any] = []
        stack = [v for v in reversed(values) if v is not None]
        while stack:
            value = stack.pop()
            children = _children(value)
            if children:
                out.append(value)
                stack.extend(c for c in reversed(children) if c is not None)
        return out


# -- printing ------------------------------------------------------------------------------


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


# -- public API ----------------------------------------------------------------------------


class JsonPath:
    """A parsed template. Immutable and safe to share: evaluation state is per call."""

    __slots__ = ("_root", "expression")

    def __init__(self, expression: str, root: _List) -> None:
        self.expression = expression
        self._root = root

    def __repr__(self) -> str:
        return f"JsonPath({self.expression!r})"

    def find_results(self, obj: Any, *, allow_missing_keys: bool = True) -> list[list[Any]]:
        """The values of each top-level piece of the template (a literal text piece yields
        its text), ranges expanded -- upstream's ``FindResults``.

        With ``allow_missing_keys`` (kubectl's and printer columns' default) a missing
        field yields nothing; without it, it raises :class:`JsonPathError`. Bad indexes,
        type mismatches in filters and unknown identifiers raise either way.
        """
        return _Run(self._root.nodes, allow_missing_keys).results(0, obj)

    def find(self, obj: Any, *, allow_missing_keys: bool = True) -> list[Any]:
        """All matched values in order, flattened across the template's pieces."""
        return [
            v
            for group in self.find_results(obj, allow_missing_keys=allow_missing_keys)
            for v in group
        ]

    def render(self, obj: Any, *, allow_missing_keys: bool = True) -> str:
        """The text ``kubectl -o jsonpath=...`` prints: values of one action separated by a
        space, pieces concatenated."""
        groups = self.find_results(obj, allow_missing_keys=allow_missing_keys)
        return "".join(" ".join(format_value(v) for v in group) for group in groups)


def parse_template(text: str) -> JsonPath:
    """Parse a full template: literal text with ``{...}`` actions, as ``kubectl -o
    jsonpath=`` takes it."""
    return JsonPath(text, _Parser(text).parse())


def parse(expr: str) -> JsonPath:
    """Parse a path or a template. Braces are optional: an expression without any ``{``
    (``.spec.replicas``, the form of CRD printer columns) is taken as one action."""
    return parse_template(expr if "{" in expr else "{" + expr + "}")
