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

The package: :mod:`.syntax` (the node types), :mod:`.parser` (text to nodes),
:mod:`.evaluator` (nodes and data to results), :mod:`.goformat` (results to Go-style text),
:mod:`.errors`; this module is the public face, :class:`JsonPath` and the parse functions.
"""

from __future__ import annotations

from typing import Any

from pilothouse.api.jsonpath.errors import JsonPathError
from pilothouse.api.jsonpath.evaluator import find_results
from pilothouse.api.jsonpath.goformat import format_value
from pilothouse.api.jsonpath.parser import parse_nodes
from pilothouse.api.jsonpath.syntax import ListNode

__all__ = ["JsonPath", "JsonPathError", "format_value", "parse", "parse_template"]


class JsonPath:
    """A parsed template. Immutable and safe to share: evaluation state is per call."""

    __slots__ = ("_root", "expression")

    def __init__(self, expression: str, root: ListNode) -> None:
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
        return find_results(self._root.nodes, obj, allow_missing_keys=allow_missing_keys)

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
    return JsonPath(text, parse_nodes(text))


def parse(expr: str) -> JsonPath:
    """Parse a path or a template. Braces are optional: an expression without any ``{``
    (``.spec.replicas``, the form of CRD printer columns) is taken as one action."""
    return parse_template(expr if "{" in expr else "{" + expr + "}")
