"""The string form of label selectors (``-l``, ``labelSelector=``): lexer and parser.

A faithful port of the lexer and parser behind ``k8s.io/apimachinery/pkg/labels.Parse``:
greedy operator scanning, ``in``/``notin`` read as plain identifiers where a value is
expected, a NUL character acting as end of input, the same grammar, the same validation of
keys (qualified names) and values (label values), and the same error texts, e.g.
``unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt``. The
integer comparisons ``a>1``/``a<1`` are supported too, since kubectl passes them through.

:func:`parse_requirements` returns the terms; :func:`pilothouse.api.labels.parse` makes the
:class:`~pilothouse.api.labelselector.Selector` of them.
"""

from __future__ import annotations

from pilothouse.api.fielderrors import FieldError
from pilothouse.api.labelselector import (
    BINARY_OPERATORS,
    SET_OPERATORS,
    Operator,
    Requirement,
    SelectorError,
)
from pilothouse.api.validation import is_qualified_name

__all__ = ["parse_requirements"]

# --- lexer ----------------------------------------------------------------------------------

# A token is (kind, literal). Operators, parentheses, the comma and the keywords in/notin
# are their own kind; everything else is an identifier.
_ID = "identifier"
_END = "end of string"
_ERROR = "error"
_KEYWORDS = frozenset({"in", "notin"})
_SYMBOLS = frozenset({")", ",", "!", "==", "=", ">", "<", "!=", "("})
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
# Go's lexer returns byte 0 at the end of input, so a literal NUL also reads as the end.
_EOF = "\0"


class _Lexer:
    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _read(self) -> str:
        if self._pos < len(self._text):
            self._pos += 1
            return self._text[self._pos - 1]
        return _EOF

    def tokens(self) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        while not items or items[-1][0] != _END:
            ch = self._read()
            while ch in _WHITESPACE:
                ch = self._read()
            if ch == _EOF:
                items.append((_END, ""))
                continue
            self._pos -= 1
            items.append(self._scan_special() if ch in _SPECIAL else self._scan_word())
        return items

    def _scan_word(self) -> tuple[str, str]:
        chars: list[str] = []
        while (ch := self._read()) != _EOF:
            if ch in _SPECIAL or ch in _WHITESPACE:
                self._pos -= 1
                break
            chars.append(ch)
        word = "".join(chars)
        return (word if word in _KEYWORDS else _ID), word

    def _scan_special(self) -> tuple[str, str]:
        # Longest operator wins: keep extending while the buffer is still an operator.
        buffer = ""
        last: tuple[str, str] | None = None
        while (ch := self._read()) != _EOF:
            if ch not in _SPECIAL:
                self._pos -= 1
                break
            buffer += ch
            if buffer in _SYMBOLS:
                last = (buffer, buffer)
            elif last is not None:
                self._pos -= 1
                break
        return last or (_ERROR, f"error expected: keyword found '{buffer}'")


# --- parser ---------------------------------------------------------------------------------


class _RequirementError(Exception):
    """A failure inside one requirement; parse() prefixes "unable to parse requirement: "."""


_OPERATOR_TOKENS = {
    "in": Operator.IN,
    "=": Operator.EQUALS,
    "==": Operator.DOUBLE_EQUALS,
    ">": Operator.GREATER_THAN,
    "<": Operator.LESS_THAN,
    "notin": Operator.NOT_IN,
    "!=": Operator.NOT_EQUALS,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self._items = _Lexer(text).tokens()
        self._pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        # Where a value is expected the keywords in/notin are identifiers ("x in (in)").
        kind, lit = self._items[min(self._pos, len(self._items) - 1)]
        return (_ID if values and kind in _KEYWORDS else kind), lit

    def _next(self, values: bool = True) -> tuple[str, str]:
        item = self._peek(values)
        self._pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self._peek()
            if kind == _END:
                return requirements
            if kind not in (_ID, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except _RequirementError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            kind, lit = self._next()
            if kind == _END:
                return requirements
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self._peek()
            if kind not in (_ID, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        values: set[str] = set()
        if operator is None:
            operator = self._operator()
            values = self._value_set() if operator in SET_OPERATORS else self._exact_value()
        try:
            # sets.String.List(): deduplicated and sorted before validation.
            return Requirement.create(key, operator, sorted(values))
        except SelectorError as exc:
            raise _RequirementError(str(exc)) from None

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        kind, lit = self._next()
        if kind == "!":
            operator = Operator.DOES_NOT_EXIST
            kind, lit = self._next()
        if kind != _ID:
            raise _RequirementError(f"found '{lit}', expected: identifier")
        if key_errors := is_qualified_name(lit):
            # The parser validates with a nil field path, which Go prints as "<nil>".
            raise _RequirementError(str(FieldError("<nil>", lit, "; ".join(key_errors))))
        if operator is None and self._peek()[0] in (_END, ","):
            operator = Operator.EXISTS
        return lit, operator

    def _operator(self) -> Operator:
        kind, lit = self._next(values=False)
        operator = _OPERATOR_TOKENS.get(kind)
        if operator is None:
            expected = ", ".join(BINARY_OPERATORS)
            raise _RequirementError(f"found '{lit}', expected: {expected}")
        return operator

    def _value_set(self) -> set[str]:
        kind, lit = self._next()
        if kind != "(":
            raise _RequirementError(f"found '{lit}' expected: '('")
        kind, lit = self._peek()
        if kind == ")":
            self._next()
            return {""}
        if kind not in (_ID, ","):
            raise _RequirementError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._next()[0] != ")":
            raise _RequirementError(f"found '{lit}', expected: ')'")
        return values

    def _identifiers(self) -> set[str]:
        # A possibly empty, comma-separated list of possibly empty values: "(a,,b)", "(,a)".
        values: set[str] = set()
        while True:
            kind, lit = self._next()
            if kind == _ID:
                values.add(lit)
                following, following_lit = self._peek()
                if following == ")":
                    return values
                if following != ",":
                    raise _RequirementError(f"found '{following_lit}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                following = self._peek()[0]
                if following == ")":
                    values.add("")
                    return values
                if following == ",":
                    self._next()
                    values.add("")
            else:
                raise _RequirementError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_END, ","):
            return {""}
        kind, lit = self._next()
        if kind == _ID:
            return {lit}
        raise _RequirementError(f"found '{lit}', expected: identifier")


def parse_requirements(selector: str) -> list[Requirement]:
    """The requirements of a selector string, in written order; raises
    :class:`~pilothouse.api.labelselector.SelectorError` with Go's message."""
    return _Parser(selector).parse()
