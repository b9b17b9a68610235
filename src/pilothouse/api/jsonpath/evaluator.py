"""Evaluation of a parsed template against JSON data, a port of client-go's
``JSONPath.FindResults`` and its walkers.

Design choices:

* Faithful to client-go, quirks included: ``[*]`` on a map is an error; comparisons need
  both sides of the same kind (an int field never equals ``1.0``); a string is a list of
  UTF-8 bytes for ``.*`` and ``..``. Map iteration, random in Go, follows insertion order.
* Errors carry the partial result Go returns with them (:class:`~.errors.EvalError`), which
  existence filters rely on.
* Recursive descent walks iteratively, so deep documents cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.api.jsonpath.errors import EvalError, JsonPathError
from pilothouse.api.jsonpath.goformat import format_value
from pilothouse.api.jsonpath.syntax import (
    ArrayNode,
    FieldNode,
    FilterNode,
    IdentifierNode,
    ListNode,
    LiteralNode,
    Node,
    Param,
    RecursiveNode,
    TextNode,
    UnionNode,
    WildcardNode,
)


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

    def __init__(self, nodes: list[Node], allow_missing_keys: bool) -> None:
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

    def walk(self, values: list[Any], node: Node) -> list[Any]:
        match node:
            case ListNode():
                for child in node.nodes:
                    values = self.walk(values, child)
                return values
            case TextNode():
                return [node.text]
            case LiteralNode():
                return [node.value] * len(values)
            case FieldNode():
                return self.field(values, node.name)
            case ArrayNode():
                return self.array(values, node.params)
            case FilterNode():
                return self.filter(values, node)
            case WildcardNode():
                return [child for v in values if v is not None for child in _children(v)]
            case RecursiveNode():
                return self.recursive(values)
            case UnionNode():
                out: list[Any] = []
                for lst in node.lists:
                    try:
                        out.extend(self.walk(values, lst))
                    except EvalError as err:
                        raise EvalError(str(err), values) from None
                return out
            case IdentifierNode():
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
            raise EvalError("not in range, nothing to end", [])
        raise EvalError(f"unrecognized identifier {name}", values)

    def field(self, values: list[Any], name: str) -> list[Any]:
        results = [v[name] for v in values if isinstance(v, Mapping) and name in v]
        if not results and values and not self.allow_missing:
            raise EvalError(f"{name} is not found", [])
        return results

    def array(self, values: list[Any], params: tuple[Param, Param, Param]) -> list[Any]:
        result: list[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list | tuple):
                raise EvalError(f"{_go_type(value)} is not array or slice", values)
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
                raise EvalError(f"array index out of bounds: index {start}, length {n}", values)
            if not 0 <= end <= n:
                raise EvalError(f"array index out of bounds: index {end - 1}, length {n}", values)
            if start > end:
                raise EvalError(
                    f"starting index {start} is greater than ending index {end}", values
                )
            step = 1
            if params[2].known:
                if params[2].value <= 0:
                    raise EvalError("step must be > 0", values)
                step = params[2].value
            result.extend(value[start:end:step])
        return result

    def filter(self, values: list[Any], node: FilterNode) -> list[Any]:
        results: list[Any] = []
        for value in values:
            if not isinstance(value, list | tuple):
                shown = format_value(value) if value is not None else "<invalid reflect.Value>"
                raise EvalError(f"{shown} is not array or slice and cannot be filtered", values)
            for item in value:
                try:
                    lefts, failure = self.walk([item], node.left), None
                except EvalError as err:
                    lefts, failure = err.partial, err
                if node.op == "exists":
                    if lefts:
                        results.append(item)
                    continue
                if failure is not None:
                    raise EvalError(str(failure), values)
                if not lefts:
                    continue
                if len(lefts) > 1:
                    raise EvalError("can only compare one element at a time", values)
                try:
                    rights = self.walk([item], node.right)
                except EvalError as err:
                    raise EvalError(str(err), values) from None
                if not rights:
                    continue
                if len(rights) > 1:
                    raise EvalError("can only compare one element at a time", values)
                if node.op not in ("==", "!=", "<", ">", "<=", ">="):
                    raise EvalError(f"unrecognized filter operator {node.op}", results)
                try:
                    passed = _compare(node.op, lefts[0], rights[0])
                except JsonPathError as err:
                    raise EvalError(str(err), results) from None
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


def find_results(nodes: list[Node], data: Any, *, allow_missing_keys: bool) -> list[list[Any]]:
    """The values of each top-level node of a template, ranges expanded."""
    return _Run(nodes, allow_missing_keys).results(0, data)
