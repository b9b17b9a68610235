"""The CRD-write checks of ``x-kubernetes-validations`` rules.

When a CRD is written the server checks every rule of every version's schema
(``apiextensions/validation``), and :func:`rule_errors` reproduces those checks, in order:

1. rule metadata: a rule is required and has no line breaks without a ``message``;
   ``message``, ``messageExpression`` and ``fieldPath`` are non-empty if set and free of
   line breaks; ``reason`` is one of the four supported ones; ``fieldPath`` names a field
   of the schema (:func:`valid_field_path`, also used to place failures at evaluation);
2. on a node whose rules passed (1) and that is not inside a junctor: compilation of the
   rule and ``messageExpression`` with the schema-aware checks of :mod:`.cel_compile`,
   against the resource view at roots and embedded resources;
3. transition rules: ``oldSelf`` is forbidden below an atomic map or a list that is not
   ``x-kubernetes-list-type: map`` (nothing correlates old and new values there), and
   ``optionalOldSelf`` requires a rule that uses ``oldSelf``.

Design choice: compile errors carry the rule as the server's ``%#v`` of its internal
``ValidationRule`` struct, whose pointer fields print as addresses; a fixed address stands
in, as the real one cannot be reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.cel_compile import check_expression, compiled, resource_view
from pilothouse.apiserver.structural.gorender import GoRepr, child, field_error, go_quote, key

__all__ = ["rule_errors", "valid_field_path"]

_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")

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


def rule_errors(node: SchemaNode, path: str) -> list[Cause]:
    """The rule errors of the schema ``node`` (a CRD version's root), under ``path``."""
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
    view = resource_view(node) if resource else node
    for i, rule in enumerate(listed):
        base = f"{path}.x-kubernetes-validations[{i}]"
        text = str(rule.get("rule"))
        problem = check_expression(text, view)
        if problem is not None:
            detail = f"compilation failed: {problem}"
            out.append(field_error("FieldValueInvalid", f"{base}.rule", detail, _rule_repr(rule)))
        expr = str(rule.get("messageExpression") or "")
        if expr.strip() and (problem := check_expression(expr, view)) is not None:
            detail = f"messageExpression compilation failed: {problem}"
            out.append(
                field_error(
                    "FieldValueInvalid", f"{base}.messageExpression", detail, _rule_repr(rule)
                )
            )
        program = compiled(text)
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
