"""Compiling CEL expressions, and the schema-aware static checks cel-python lacks.

:func:`compiled` parses an expression into a :class:`Program` (cached per expression
text, so every rule is compiled once per process) and words syntax errors as cel-go does
(``ERROR: <input>:1:6: Syntax error: ...`` plus the source line and a caret).

:func:`check_expression` adds what cel-go's type checker would report for CRD rules and
cel-python cannot: undeclared identifiers and functions, ``has()`` arguments that are not a
field selection, and field selection against the schema (``self.spce`` is ``undefined
field 'spce'``; selecting on a scalar is ``type 'int' does not support field selection``).
:func:`resource_view` is the schema a resource root's rules see (``apiVersion``, ``kind``
and a ``metadata`` with only ``name`` and ``generateName``).

Design choices:

* there is no type inference beyond the schema: an expression's type is known only while
  it is a path into ``self`` (through fields, indexing and ``filter``), which is where
  authoring mistakes happen; anything else checks its sub-expressions and is untyped;
* there is no cost model and no cost budget (cel-python has none).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

import celpy
from celpy.celparser import CELParseError

from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.cel_library import (
    FUNCTIONS,
    KNOWN_FUNCTIONS,
    KNOWN_IDENTS,
    MACROS,
)
from pilothouse.apiserver.structural.cel_values import escape

__all__ = ["Program", "check_expression", "compiled", "resource_view"]

# -- programs ------------------------------------------------------------------------------


@functools.cache
def _env() -> celpy.Environment:
    # celpy raises the process-wide recursion limit as a side effect; rules are small, so
    # the limit is put back rather than changed under everyone else's feet.
    limit = sys.getrecursionlimit()
    env = celpy.Environment()
    sys.setrecursionlimit(limit)
    return env


class Program:
    """A compiled expression: its parse ``tree`` and cel-python ``runner``, or the cel-go
    worded ``error``; ``uses_old_self`` marks transition rules."""

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
def compiled(text: str) -> Program:
    """The program for ``text``; the same object for the same text."""
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
        return Program(None, None, _located(text, exc.line or 1, exc.column or 1, detail))
    return Program(tree, _env().program(tree, functions=FUNCTIONS), None)


# -- static checks -------------------------------------------------------------------------

_META_VIEW = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
}


def resource_view(node: SchemaNode) -> SchemaNode:
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
            if name not in KNOWN_IDENTS:
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
            elif name not in KNOWN_FUNCTIONS:
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
        if name in MACROS and len(args) >= 2:
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
        if name not in KNOWN_FUNCTIONS:
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


def check_expression(text: str, node: SchemaNode | None) -> str | None:
    """cel-go's compile issues for ``text`` with ``self`` typed by ``node``, or None."""
    program = compiled(text)
    if program.error is not None:
        return program.error
    checker = _Checker(text, node)
    checker.visit(program.tree, {})
    return "\n".join(checker.issues) or None
