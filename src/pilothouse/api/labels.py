"""Label selectors: the ``-l``/``labelSelector=`` string form and ``metav1.LabelSelector``.

The entry point for selecting by labels, in three parts:

* :func:`parse` is ``k8s.io/apimachinery/pkg/labels.Parse``: the lexer and parser are a
  faithful port (:mod:`~pilothouse.api.labelparser`), with the same error texts, e.g.
  ``unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt``;
  ``parse(str(s)) == s`` holds for every parsed selector;
* :func:`from_label_selector` mirrors ``metav1.LabelSelectorAsSelector``: ``None`` selects
  nothing, ``{}`` selects everything. Errors carry Go's field-path wording (``key: Invalid
  value: ...``, ``values[0][app]: Invalid value: ...``), aggregated ``[a, b]`` style;
* the model both produce -- :class:`Selector`, :class:`Requirement`, :class:`Operator`,
  :class:`SelectorError` and :func:`equality_labels` -- lives in
  :mod:`~pilothouse.api.labelselector` and is re-exported here for callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.api.goformat import go_quote
from pilothouse.api.labelparser import parse_requirements
from pilothouse.api.labelselector import (
    Operator,
    Requirement,
    Selector,
    SelectorError,
    equality_labels,
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


def parse(selector: str) -> Selector:
    """Parse the string form (``labels.Parse``); raises :class:`SelectorError`."""
    return Selector(tuple(parse_requirements(selector)))


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
