"""Label selectors: the ``-l``/``labelSelector=`` string form and ``metav1.LabelSelector``.

:func:`parse` is a faithful port of ``k8s.io/apimachinery/pkg/labels.Parse``: the same lexer
(greedy operator scanning, ``in``/``notin`` read as plain identifiers where a value is
expected, a NUL character acting as end of input), the same grammar, the same validation of
keys (qualified names) and values (label values), and the same error texts, e.g.
``unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt``. The
integer comparisons ``a>1``/``a<1`` of the string form are supported too, since kubectl
passes them through.

:class:`Selector` is an immutable, hashable value. Its requirements are kept sorted by key
(stable, so same-key requirements keep their order, as Go's small-slice sort does) and each
requirement's values are sorted, which makes ``str()`` print exactly what Go's ``String()``
prints and guarantees ``parse(str(s)) == s`` for every parsed selector. ``==`` stays
distinct from ``=`` because Go keeps the distinction in ``String()``.

:func:`from_label_selector` mirrors ``metav1.LabelSelectorAsSelector``: ``None`` selects
nothing, ``{}`` selects everything. Errors carry Go's field-path wording (``key: Invalid
value: ...``, ``values[0][app]: Invalid value: ...``), aggregated ``[a, b]`` style.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pilothouse.api.validation import (
    FieldError,
    go_quote,
    is_qualified_name,
    is_valid_label_value,
)

__all__ = [
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "equality_labels",
    "from_label_selector",
    "parse",
]


class SelectorError(ValueError):
    """An invalid selector; ``str()`` is the message kube-apiserver would give."""


class Operator(enum.StrEnum):
    """``selection.Operator`` values."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = "gt"
    LESS_THAN = "lt"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


_BINARY_OPERATORS = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
_EXACT = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_SET = frozenset({Operator.IN, Operator.NOT_IN})
_UNARY = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_NUMERIC = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_PINNING = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN})
_INFIX = {
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}

_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    # strconv.ParseInt(s, 10, 64): no spaces, no underscores, must fit in int64.
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One ``key <op> values`` term. Build validated ones with :meth:`create`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", Operator(self.operator))
        # Sorted values make equality order-insensitive and str() match Go's safeSort output.
        object.__setattr__(self, "values", tuple(sorted(self.values)))

    @classmethod
    def create(cls, key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
        """``labels.NewRequirement``: validates and raises :class:`SelectorError`."""
        vals = list(values)
        errors = _requirement_errors(key, operator, vals)
        if errors:
            raise SelectorError(_aggregate(errors))
        return cls(key, operator, tuple(vals))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels is not None and self.key in labels
        value = labels[self.key] if present and labels is not None else ""
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or value not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if not present or len(self.values) != 1:
            return False
        actual, bound = _parse_int64(value), _parse_int64(self.values[0])
        if actual is None or bound is None:
            return False
        return actual > bound if op is Operator.GREATER_THAN else actual < bound

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if self.operator in _SET:
            joined = f"({joined})"
        return self.key + _INFIX[self.operator] + joined


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements (``labels.Selector``)."""

    requirements: tuple[Requirement, ...] = ()
    # Nothing() is not expressible as requirements: it matches no label set at all.
    is_nothing: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        # Stable sort by key only, like Go's Add/parse; see the module docstring.
        ordered = tuple(sorted(self.requirements, key=lambda r: r.key))
        object.__setattr__(self, "requirements", ordered)

    @classmethod
    def everything(cls) -> Selector:
        return cls()

    @classmethod
    def nothing(cls) -> Selector:
        """``labels.Nothing()``: matches no object; prints as ``""`` but is not :attr:`empty`."""
        return cls(is_nothing=True)

    @classmethod
    def from_set(cls, labels: Mapping[str, str]) -> Selector:
        """``labels.SelectorFromSet``: ``k=v`` for each entry, unvalidated."""
        return cls(tuple(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()))

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self.is_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.is_nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """``RequiresExactMatch``: the value the *first* requirement on ``key`` pins, if any."""
        for requirement in self.requirements:
            if requirement.key == key:
                pins = requirement.operator in _PINNING and len(requirement.values) == 1
                return requirement.values[0] if pins else None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    def __repr__(self) -> str:
        return "Selector.nothing()" if self.is_nothing else f"Selector({str(self)!r})"


def equality_labels(selector: Selector) -> dict[str, str]:
    """Labels pinned to one value by ``=``, ``==`` or a single-value ``in``.

    Meant for index lookups: every object the selector matches carries these labels. When
    contradictory requirements pin one key twice the first is kept; the selector then
    matches nothing, so any candidate set is correct as long as :meth:`Selector.matches`
    is still applied.
    """
    pinned: dict[str, str] = {}
    if selector.is_nothing:
        return pinned
    for requirement in selector.requirements:
        if requirement.operator in _PINNING and len(requirement.values) == 1:
            pinned.setdefault(requirement.key, requirement.values[0])
    return pinned


# --- validation -----------------------------------------------------------------------------


def _aggregate(messages: list[str]) -> str:
    # utilerrors.NewAggregate(...).Error(): duplicates collapse, several are bracketed.
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _count_problem(operator: Operator, count: int) -> str | None:
    if operator in _SET and count == 0:
        return "for 'in', 'notin' operators, values set can't be empty"
    if operator in _EXACT and count != 1:
        return "exact-match compatibility requires one single value"
    if operator in _UNARY and count != 0:
        return "values set must be empty for exists and does not exist"
    if operator in _NUMERIC and count != 1:
        return "for 'Gt', 'Lt' operators, exactly one value is required"
    return None


def _requirement_errors(key: str, operator: Operator, values: list[str]) -> list[str]:
    # NewRequirement without a path option: the key is reported as "key", values as
    # "values", "values[i]" and "values[i][<key>]".
    errors: list[str] = []

    def invalid(path: str, value: object, detail: str) -> None:
        errors.append(str(FieldError(path, value, detail)))

    if key_errors := is_qualified_name(key):
        invalid("key", key, "; ".join(key_errors))
    if problem := _count_problem(operator, len(values)):
        # Go renders the []string as JSON, and an empty list is a nil slice there: null.
        invalid("values", list(values) or None, problem)
    if operator in _NUMERIC:
        for i, value in enumerate(values):
            if _parse_int64(value) is None:
                invalid(
                    f"values[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"
                )
    for i, value in enumerate(values):
        if value_errors := is_valid_label_value(value):
            invalid(f"values[{i}][{key}]", value, "; ".join(value_errors))
    return errors


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
            values = self._value_set() if operator in _SET else self._exact_value()
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
            expected = ", ".join(_BINARY_OPERATORS)
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


def parse(selector: str) -> Selector:
    """Parse the string form (``labels.Parse``); raises :class:`SelectorError`."""
    return Selector(tuple(_Parser(selector).parse()))


_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def _expression(expression: object) -> Requirement:
    if not isinstance(expression, Mapping):
        raise SelectorError("a matchExpressions entry must be an object")
    key = expression.get("key") or ""
    values = expression.get("values") or []
    if not isinstance(key, str) or not isinstance(values, list):
        raise SelectorError("a matchExpressions entry needs a string key and a list of values")
    if not all(isinstance(value, str) for value in values):
        raise SelectorError("matchExpressions values must be strings")
    raw_operator = expression.get("operator") or ""
    operator = _EXPRESSION_OPERATORS.get(raw_operator) if isinstance(raw_operator, str) else None
    if operator is None:
        raise SelectorError(f"{go_quote(str(raw_operator))} is not a valid label selector operator")
    return Requirement.create(key, operator, values)


def from_label_selector(obj: Mapping[str, Any] | None) -> Selector:
    """``metav1.LabelSelectorAsSelector`` for a decoded ``LabelSelector`` dict.

    ``None`` selects nothing and a selector with no terms selects everything. The first
    invalid term raises :class:`SelectorError`; ``matchLabels`` are checked in key order
    (Go's map order is random, ours is deterministic). Malformed shapes, which Go would
    reject while decoding, raise :class:`SelectorError` too.
    """
    if obj is None:
        return Selector.nothing()
    if not isinstance(obj, Mapping):
        raise SelectorError("a label selector must be an object")
    match_labels = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in match_labels.items()
    ):
        raise SelectorError("matchLabels must map strings to strings")
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    requirements = [
        Requirement.create(key, Operator.EQUALS, [match_labels[key]])
        for key in sorted(match_labels)
    ]
    requirements += [_expression(expression) for expression in expressions]
    return Selector(tuple(requirements))
