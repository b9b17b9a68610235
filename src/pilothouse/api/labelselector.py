"""The label selector model: :class:`Requirement` terms and the :class:`Selector` they form.

This is ``k8s.io/apimachinery/pkg/labels``' ``Requirement`` and ``internalSelector``:

* :class:`Operator` holds the ``selection.Operator`` values, ``==`` kept distinct from ``=``
  because Go keeps the distinction in ``String()``;
* :meth:`Requirement.create` is ``NewRequirement``: it validates keys (qualified names),
  values (label values) and value counts per operator, with Go's field-path wording
  (``key: Invalid value: ...``, ``values[0][app]: Invalid value: ...``) aggregated
  ``[a, b]`` style, and raises :class:`SelectorError`;
* :class:`Selector` is an immutable, hashable value. Its requirements are kept sorted by key
  (stable, so same-key requirements keep their order, as Go's small-slice sort does) and
  each requirement's values are sorted, which makes ``str()`` print exactly what Go's
  ``String()`` prints. :meth:`Selector.nothing` matches no object at all.

The integer comparisons ``gt``/``lt`` compare as ``strconv.ParseInt`` reads numbers. The
string form is parsed by :mod:`~pilothouse.api.labelparser`; :mod:`~pilothouse.api.labels`
is the entry point for both external forms.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pilothouse.api.fielderrors import FieldError
from pilothouse.api.validation import is_qualified_name, is_valid_label_value

__all__ = [
    "BINARY_OPERATORS",
    "SET_OPERATORS",
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "equality_labels",
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


#: The operators that take values, in the order parse errors list them.
BINARY_OPERATORS = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
#: The operators taking a parenthesised value set.
SET_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
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
        if self.operator in SET_OPERATORS:
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
    if operator in SET_OPERATORS and count == 0:
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
