"""``x-kubernetes-validations``: CEL rules on custom resources, evaluated with cel-python.

:func:`validate_cel` walks the object alongside its schema as the server's
``schema/cel.Validator`` does and evaluates each rule with ``self`` bound to the value at
the rule's node. Transition rules (those mentioning ``oldSelf``) run only on updates and
only where an old value correlates: through object properties (unless the map is
``x-kubernetes-map-type: atomic``) and through ``x-kubernetes-list-type: map`` items by key;
``optionalOldSelf`` rules always run, with ``oldSelf`` an optional value. Failures are worded
as the real server words them (1.32): ``Invalid value: "object": <message>`` with the
schema type as value, at the rule's path (or its ``fieldPath``), ``<nil>`` at the root;
``reason`` switches to ``Forbidden``/``Required value``/``Duplicate value``;
``messageExpression`` supplies the message when it evaluates to a usable string. Runtime
errors are reworded as cel-go words them (``no such key: x``, ``no such overload``).

:func:`blocking_error` is the server's ``hasBlockingErr``: rules are skipped on objects
whose shape is already wrong. :func:`compile_errors` is the CRD-write check of the rules
(:mod:`.cel_rule_check`).

The pieces live in sibling modules: value conversion in :mod:`.cel_values`, the Kubernetes
function library in :mod:`.cel_library`, compilation and static checks in
:mod:`.cel_compile`.

Design choices:

* cel-python has no type checker and no cost model; the schema-aware checks of
  :mod:`.cel_compile` catch the usual authoring mistakes, and there is no cost budget.
* Programs are compiled once per expression text and cached; the schema only matters to
  the static checks, which :func:`compile_errors` runs.
* Rules listed in ``allOf`` branches run at the same node, with the node's own types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from celpy import celtypes

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.cel_compile import Program, compiled
from pilothouse.apiserver.structural.cel_library import NAMESPACES, OptionalValue
from pilothouse.apiserver.structural.cel_rule_check import rule_errors, valid_field_path
from pilothouse.apiserver.structural.cel_values import to_cel
from pilothouse.apiserver.structural.gorender import child, field_error, go_json, index, key

__all__ = ["blocking_error", "compile_errors", "validate_cel"]

_MAX_MESSAGE = 5000


def validate_cel(obj: Any, old_obj: Any, schema: SchemaNode, path: str = "") -> list[Cause]:
    """Evaluate every ``x-kubernetes-validations`` rule on ``obj`` (an update when
    ``old_obj`` is not None). ``path`` is the JSON path of ``obj``; ``""`` is the resource
    root, whose own rules fail at field ``<nil>`` as on the real server."""
    out: list[Cause] = []
    if _has_rules(schema.raw):
        _walk(obj, old_obj, schema, schema, path or None, not path, out)
    return out


#: Whether a schema holds any rule, by the schema's identity (the schema is kept alive with
#: the answer, so an id is never reused for another schema while cached).
_RULES_CACHE: dict[int, tuple[Any, bool]] = {}


def _has_rules(raw: Mapping[str, Any]) -> bool:
    """Most schemas have no CEL rule at all: answer that once per schema, instead of
    walking every object written against it."""
    hit = _RULES_CACHE.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    found = _contains_rules(raw)
    if len(_RULES_CACHE) > 10_000:
        _RULES_CACHE.clear()
    _RULES_CACHE[id(raw)] = (raw, found)
    return found


def _contains_rules(value: Any) -> bool:
    if isinstance(value, Mapping):
        if value.get("x-kubernetes-validations"):
            return True
        return any(_contains_rules(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_rules(v) for v in value)
    return False


def blocking_error(causes: Sequence[Cause]) -> Cause | None:
    """The cause the server reports instead of running rules when schema validation found
    type, required, enum, length or count errors (``hasBlockingErr``), or None."""
    blocking = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong"}
    blocking |= {"FieldValueTooMany", "FieldValueTypeInvalid"}
    if not any(c.reason in blocking for c in causes):
        return None
    detail = (
        "some validation rules were not checked because the object was invalid; correct "
        "the existing errors to complete validation"
    )
    return field_error("FieldValueInvalid", None, detail, None)


def compile_errors(
    schema: SchemaNode | Mapping[str, Any], path: str = "spec.validation.openAPIV3Schema"
) -> list[Cause]:
    """The ``x-kubernetes-validations`` errors of a CRD version's ``openAPIV3Schema``, with
    fields under ``path`` (``spec.versions[0].schema.openAPIV3Schema`` for v1 CRDs)."""
    node = schema if isinstance(schema, SchemaNode) else SchemaNode(schema)
    return rule_errors(node, path)


# -- walking -------------------------------------------------------------------------------


def _walk(
    obj: Any,
    old: Any,
    rules: SchemaNode,
    types: SchemaNode,
    path: str | None,
    root: bool,
    out: list[Cause],
) -> None:
    if obj is None:
        return
    _rules(obj, old, rules, types, path, root, out)
    for sub in rules.raw.get("allOf") or []:
        if isinstance(sub, Mapping):
            _walk(obj, old, SchemaNode(sub, getattr(rules, "_defs", None)), types, path, root, out)
    if isinstance(obj, dict):
        correlated = isinstance(old, dict) and types.map_type != "atomic"
        ap_rules, ap_types = rules.additional_properties(), types.additional_properties()
        for k, v in obj.items():
            o = old.get(k) if correlated else None
            if ap_rules is not None and ap_types is not None:
                _walk(v, o, ap_rules, ap_types, key(path, k), ap_types.embedded_resource, out)
            if k in rules.properties and k in types.properties:
                r, t = rules.field(k), types.field(k)
                if r is not None and t is not None:
                    _walk(v, o, r, t, child(path, k), t.embedded_resource, out)
    elif isinstance(obj, list):
        r_items, t_items = rules.items(), types.items()
        if r_items is None or t_items is None:
            return
        olds = _map_list(old, types) if types.list_type == "map" else {}
        for i, v in enumerate(obj):
            o = olds.get(_list_key(v, types)) if isinstance(v, dict) else None
            _walk(v, o, r_items, t_items, index(path, i), t_items.embedded_resource, out)


def _list_key(item: Mapping[str, Any], node: SchemaNode) -> str:
    items = node.items()
    defaults = items.properties if items is not None else {}
    return go_json(
        [item.get(k, (defaults.get(k) or {}).get("default")) for k in node.list_map_keys]
    )


def _map_list(old: Any, node: SchemaNode) -> dict[str, Any]:
    if not isinstance(old, list):
        return {}
    return {_list_key(x, node): x for x in old if isinstance(x, dict)}


def _rules(
    obj: Any,
    old: Any,
    rules: SchemaNode,
    types: SchemaNode,
    path: str | None,
    root: bool,
    out: list[Cause],
) -> None:
    listed = rules.raw.get("x-kubernetes-validations")
    if not isinstance(listed, list) or not listed:
        return
    sts_type = types.type or ""
    activation: dict[str, Any] = {"self": to_cel(obj, types, root)}
    old_value = to_cel(old, types, root) if old is not None else None
    for rule in listed:
        if not isinstance(rule, Mapping) or not str(rule.get("rule") or "").strip():
            continue
        program = compiled(str(rule["rule"]))
        if program.error is not None:
            detail = f"rule compile error: {program.error}"
            out.append(field_error("FieldValueInvalid", path, detail, sts_type))
            continue
        optional = rule.get("optionalOldSelf") is True
        if program.uses_old_self and old is None and not optional:
            continue  # transition rules need a correlated old value
        scope = dict(activation)
        if optional:
            scope["oldSelf"] = OptionalValue(old_value, old is not None)
        elif old is not None:
            scope["oldSelf"] = old_value
        try:
            result = _evaluate(program, scope)
        except Exception as exc:  # CEL errors and library failures alike
            text, overload = _runtime_error(exc)
            if overload:
                detail = (
                    f"'{text}': call arguments did not match a supported operator, function or "
                    f"macro signature for rule: {_rule_text(rule)}"
                )
            else:
                detail = f"{text} evaluating rule: {_rule_text(rule)}"
            out.append(field_error("FieldValueInvalid", path, detail, sts_type))
            continue
        if isinstance(result, celtypes.BoolType) and bool(result):
            continue
        out.append(_failure(rule, scope, types, path, sts_type))


def _failure(
    rule: Mapping[str, Any],
    scope: dict[str, Any],
    types: SchemaNode,
    path: str | None,
    sts_type: str,
) -> Cause:
    fld = path
    field_path = rule.get("fieldPath")
    if isinstance(field_path, str) and field_path.strip():
        normalized, _ = valid_field_path(field_path.strip(), types)
        if normalized:
            fld = child(path, normalized)
    detail = None
    if isinstance(rule.get("messageExpression"), str) and rule["messageExpression"].strip():
        detail = _message_expression(rule["messageExpression"], scope)
    if detail is None:
        message = str(rule.get("message") or "").strip()
        detail = message or f"failed rule: {_rule_text(rule)}"
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return field_error("FieldValueForbidden", fld, detail)
    if reason == "FieldValueRequired":
        return field_error("FieldValueRequired", fld, detail)
    if reason == "FieldValueDuplicate":
        return field_error("FieldValueDuplicate", fld, value=sts_type)
    return field_error("FieldValueInvalid", fld, detail, sts_type)


# -- evaluating ----------------------------------------------------------------------------


def _runtime_error(exc: BaseException) -> tuple[str, bool]:
    """cel-go's wording for an evaluation error, and whether it is an overload error."""
    args = exc.args
    msg = str(args[0]) if args else str(exc)
    cls = args[1] if len(args) > 1 else type(exc)
    if "overload" in msg:
        return "no such overload", True
    if msg.startswith("no such member") or cls is KeyError:
        m = re.search(r"'([^']*)'", msg) or re.search(r"'([^']*)'", str(args[2:]))
        return f"no such key: {m.group(1) if m else ''}", False
    if msg.startswith("undeclared reference to"):
        m = re.match(r"undeclared reference to '?([^' ]+)", msg)
        return f"undeclared reference to '{m.group(1) if m else ''}' (in container '')", False
    if cls is ZeroDivisionError or "divide by zero" in msg:
        return "division by zero", False
    if cls is IndexError:
        return "index out of range", False
    if "overflow" in msg and "overflow" in str(args[2:]):
        return "integer overflow", False
    return msg, False


def _evaluate(program: Program, activation: dict[str, Any]) -> Any:
    return program.runner.evaluate({**NAMESPACES, **activation})


def _message_expression(text: str, activation: dict[str, Any]) -> str | None:
    program = compiled(text)
    if program.error is not None:
        return None
    try:
        value = _evaluate(program, activation)
    except Exception:  # the static message is used instead, as the server does
        return None
    if not isinstance(value, str):
        return None
    value = value.strip()
    ok = value and "\n" not in value and len(value.encode()) <= _MAX_MESSAGE
    return value if ok else None


def _rule_text(rule: Mapping[str, Any]) -> str:
    message = str(rule.get("message") or "").strip()
    return message or str(rule.get("rule") or "").strip()
