"""Field selectors: the ``--field-selector``/``fieldSelector=`` string form.

A port of ``k8s.io/apimachinery/pkg/fields.ParseSelector``. The grammar is small: terms are
separated by unescaped commas, each term splits at its *first* ``!=``, ``==`` or ``=``, and
values (never field names) may escape ``\\``, ``,`` and ``=`` with a backslash; those three
characters must be escaped. Errors use the real wording, including Go's quirk of printing an
unescaped ``=`` as its code point (``unescapedRune character in value: 61``).

Design choices:

* Whether a field name is selectable is per resource and not this module's business:
  :attr:`FieldSelector.fields` lists the names used, and :meth:`FieldSelector.transform`
  mirrors Go's ``Transform`` so the API server can run its per-kind label conversion
  (which renames aliases and raises ``field label not supported: ...``) over a parsed
  selector, exactly where kube-apiserver does.
* ``==`` is stored as ``=``: Go's terms do not remember the spelling and print ``=``.
* Requirements are kept sorted by their printed form. Go sorts the raw terms, which differs
  only when ``==`` is spelled out; sorting the canonical form is what makes
  ``parse(str(s)) == s`` hold for every parsed selector.
* A field missing from the mapping handed to :meth:`FieldSelector.matches` compares as
  ``""``, like Go's ``fields.Set.Get``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "FieldOperator",
    "FieldRequirement",
    "FieldSelector",
    "FieldSelectorError",
    "escape_value",
    "parse",
    "unescape_value",
]


class FieldSelectorError(ValueError):
    """An invalid field selector; ``str()`` is the message kube-apiserver would give."""


class FieldOperator(enum.StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="


@dataclass(frozen=True)
class FieldRequirement:
    """``field = value`` or ``field != value`` (value unescaped)."""

    field: str
    operator: FieldOperator
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", FieldOperator(self.operator))

    def matches(self, fields: Mapping[str, str]) -> bool:
        actual = fields.get(self.field, "")
        if self.operator is FieldOperator.EQUALS:
            return actual == self.value
        return actual != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field requirements; no requirements selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> frozenset[str]:
        """The field names the selector uses, for checking against a resource's supported set."""
        return frozenset(requirement.field for requirement in self.requirements)

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(requirement.matches(fields) for requirement in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value an ``=`` term pins ``field`` to, if any (first one wins, as in Go)."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator is FieldOperator.EQUALS:
                return requirement.value
        return None

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """``Selector.Transform``: map every ``(field, value)``; exceptions propagate.

        A term mapped to an empty field *and* an empty value is dropped, as in Go.
        """
        transformed: list[FieldRequirement] = []
        for requirement in self.requirements:
            field, value = fn(requirement.field, requirement.value)
            if field or value:
                transformed.append(FieldRequirement(field, requirement.operator, value))
        return FieldSelector(tuple(transformed))

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"


_ESCAPED = frozenset("\\,=")


def escape_value(value: str) -> str:
    """``fields.EscapeValue``: backslash-escape ``\\``, ``,`` and ``=``."""
    return "".join("\\" + ch if ch in _ESCAPED else ch for ch in value)


def unescape_value(value: str) -> str:
    """``fields.UnescapeValue``; raises :class:`FieldSelectorError` on bad escapes."""
    if not any(ch in _ESCAPED for ch in value):
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in _ESCAPED:
                raise FieldSelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in _ESCAPED:
            # Go formats the offending rune with %v, i.e. as its code point.
            raise FieldSelectorError(
                f"invalid field selector: unescapedRune character in value: {ord(ch)}"
            )
        else:
            out.append(ch)
    if in_slash:
        raise FieldSelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(selector: str) -> list[str]:
    # Split at commas not preceded by a backslash; escapes stay in the terms.
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(selector):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


# "==" before "=" so a double equals never leaves a leading "=" in the value.
_TERM_OPERATORS = (
    ("!=", FieldOperator.NOT_EQUALS),
    ("==", FieldOperator.EQUALS),
    ("=", FieldOperator.EQUALS),
)


def _split_term(term: str) -> tuple[str, FieldOperator, str] | None:
    # Field names cannot be escaped, so the first operator anywhere is the split point.
    for i in range(len(term)):
        for spelling, operator in _TERM_OPERATORS:
            if term.startswith(spelling, i):
                return term[:i], operator, term[i + len(spelling) :]
    return None


def parse(selector: str) -> FieldSelector:
    """Parse the string form (``fields.ParseSelector``)."""
    requirements: list[FieldRequirement] = []
    # Go validates the terms in sorted order, which decides which error is reported first.
    for term in sorted(_split_terms(selector)) if selector else ():
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise FieldSelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")
        field, operator, raw_value = split
        value = unescape_value(raw_value)
        # An empty field with an empty value ("=") transforms into Everything() in Go.
        if field or value:
            requirements.append(FieldRequirement(field, operator, value))
    requirements.sort(key=str)
    return FieldSelector(tuple(requirements))
