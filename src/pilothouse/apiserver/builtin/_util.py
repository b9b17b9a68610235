"""Shared plumbing of the built-in defaulters and validators.

* **Field paths** are plain strings built the way ``field.Path`` renders them:
  ``spec.containers[0].name`` (``child``/``index``) and ``data[my.key]`` (``key``, no quotes).
* **Causes** are built by one constructor per ``field.ErrorType``, each producing the exact
  ``StatusCause.message`` Go's ``field.Error.ErrorBody()`` produces: ``Required value``,
  ``Invalid value: "x": detail``, ``Unsupported value: "x": supported values: "a", "b"``...
  ``Required``/``Forbidden``/``Too long`` never show the value, as in Go.
* **Values** are printed the way ``ErrorBody`` prints Go values: strings with ``%q``, numbers
  and booleans bare, absent pointers as ``null``. Composite values print Go's ``%#v`` syntax
  (``map[string]string{"app":"web"}``, ``v1.LabelSelector{...}``) through :class:`GoValue`,
  which the helpers here pre-render; large structs (a whole pod template) are abbreviated to
  ``core.PodTemplateSpec{...}`` because reproducing Go's struct dump field by field would
  buy nothing a client could use.
* **Accessors** tolerate wrongly-typed JSON (a list where an object belongs): the type
  checks ran before us and the worst outcome of skipping a malformed branch is a missed
  secondary error, never an exception.
* Value rules (ports, percents, config keys...) and selector checks are in :mod:`._rules`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from pilothouse.api.validation import go_quote, go_sprint
from pilothouse.apiserver.errors import Cause

Obj = dict[str, Any]

MAX_INT32 = 2**31 - 1


# --- paths ----------------------------------------------------------------------------------


def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


# --- Go value rendering ---------------------------------------------------------------------


class GoValue(str):
    """A value already rendered in Go syntax; printed verbatim after ``Invalid value:``."""

    __slots__ = ()


def render(value: object) -> str:
    """``ErrorBody``'s rendering of a bad value."""
    if isinstance(value, GoValue):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool | int | float):
        return go_sprint(value)
    if isinstance(value, Mapping):
        return go_string_map(value)
    if isinstance(value, list | tuple):
        return go_string_slice(value)
    return go_quote(str(value))


def go_string_map(value: Mapping[str, Any] | None) -> GoValue:
    """``%#v`` of a ``map[string]string`` (Go sorts the keys)."""
    if value is None:
        return GoValue("map[string]string(nil)")
    items = ", ".join(
        f"{go_quote(str(k))}:{go_quote(str(value[k]))}" for k in sorted(value, key=str)
    )
    return GoValue("map[string]string{" + items + "}")


def go_string_slice(value: Sequence[Any] | None, type_name: str = "string") -> GoValue:
    """``%#v`` of a ``[]string`` (or a slice of another string type)."""
    if value is None:
        return GoValue(f"[]{type_name}(nil)")
    return GoValue(f"[]{type_name}{{" + ", ".join(go_quote(str(v)) for v in value) + "}")


def go_label_selector(selector: object) -> GoValue:
    """``%#v`` of a ``metav1.LabelSelector`` (what ``Invalid(path, spec.Selector, ...)`` shows)."""
    if not isinstance(selector, Mapping):
        return GoValue("null")
    match_labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    if isinstance(exprs, list):
        rendered = []
        for e in exprs:
            e = e if isinstance(e, Mapping) else {}
            values = e.get("values")
            rendered.append(
                "v1.LabelSelectorRequirement{"
                f"Key:{go_quote(str(e.get('key') or ''))}, "
                f"Operator:{go_quote(str(e.get('operator') or ''))}, "
                f"Values:{go_string_slice(values if isinstance(values, list) else None)}}}"
            )
        exprs_s = "[]v1.LabelSelectorRequirement{" + ", ".join(rendered) + "}"
    else:
        exprs_s = "[]v1.LabelSelectorRequirement(nil)"
    labels_s = go_string_map(match_labels if isinstance(match_labels, Mapping) else None)
    return GoValue(f"v1.LabelSelector{{MatchLabels:{labels_s}, MatchExpressions:{exprs_s}}}")


def go_struct(type_name: str) -> GoValue:
    """An abbreviated ``%#v`` of a large struct."""
    return GoValue(type_name + "{...}")


def go_int_or_string(value: object) -> GoValue:
    """``IntOrString`` implements ``String()``, so Go prints it bare: ``25%`` or ``5``."""
    return GoValue(str(value) if not isinstance(value, bool) else "0")


# --- causes ---------------------------------------------------------------------------------


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", _body("Required value", detail), path)


def invalid(path: str, value: object, detail: str) -> Cause:
    return Cause("FieldValueInvalid", _body(f"Invalid value: {render(value)}", detail), path)


def not_supported(path: str, value: object, supported: Sequence[str]) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(s) for s in supported) if supported else ""
    return Cause(
        "FieldValueNotSupported", _body(f"Unsupported value: {render(value)}", detail), path
    )


def duplicate(path: str, value: object) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {render(value)}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", _body("Forbidden", detail), path)


def not_found(path: str, value: object) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {render(value)}", path)


def too_long(path: str, max_bytes: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: must have at most {max_bytes} bytes", path)


def immutable(path: str, value: object) -> Cause:
    """``ValidateImmutableField``: an Invalid error showing the *new* value."""
    return invalid(path, value, "field is immutable")


def _body(head: str, detail: str) -> str:
    return f"{head}: {detail}" if detail else head


def nonnegative(path: str, value: object) -> list[Cause]:
    """``ValidateNonnegativeField`` for an integer that may be absent."""
    if is_int(value) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def required_enum(value: object, path: str, allowed: Sequence[str]) -> list[Cause]:
    """The ``switch``-with-Required pattern most enum fields of a PodSpec use."""
    if value is None or value == "":
        return [required(path)]
    if value not in allowed:
        return [not_supported(path, value, allowed)]
    return []


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


# --- accessors ------------------------------------------------------------------------------


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def as_dict(value: object) -> Obj | None:
    return value if isinstance(value, dict) else None


def get_dict(obj: Mapping[str, Any] | None, *keys: str) -> Obj | None:
    cur: object = obj
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur if isinstance(cur, dict) else None


def get_list(obj: Mapping[str, Any] | None, k: str) -> list[Any]:
    value = obj.get(k) if isinstance(obj, Mapping) else None
    return value if isinstance(value, list) else []


def get_str(obj: Mapping[str, Any] | None, k: str) -> str:
    value = obj.get(k) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else ""


def dicts(values: object) -> Iterator[tuple[int, Obj]]:
    """``(index, item)`` for the object items of a list, keeping original indexes."""
    if isinstance(values, list):
        for i, item in enumerate(values):
            if isinstance(item, dict):
                yield i, item


def ensure_dict(obj: Obj, k: str) -> Obj | None:
    """The object at ``k``, created when absent or null; None when it has another type."""
    value = obj.get(k)
    if value is None:
        value = {}
        obj[k] = value
    return value if isinstance(value, dict) else None


def set_if_none(obj: Obj, k: str, value: object) -> None:
    """Default a pointer field: Go's ``if obj.X == nil``."""
    if obj.get(k) is None:
        obj[k] = value


def set_if_empty(obj: Obj, k: str, value: object) -> None:
    """Default a string (or slice) field: Go's ``if obj.X == ""`` / ``len(obj.X) == 0``."""
    current = obj.get(k)
    if current is None or current == "" or current == []:
        obj[k] = value


def string_map(value: object) -> dict[str, str] | None:
    """A label-like map, or None when absent or malformed."""
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return value
    return None


# --- semantic comparison --------------------------------------------------------------------


def prune_zero(value: object) -> object:
    """Drop null, false, 0, "", {} and [] recursively.

    Immutability checks compare decoded JSON where kube compares Go structs with
    ``Semantic.DeepEqual``: there an omitted field and its zero value are the same thing
    (and empty and nil slices/maps are equal), so ``hostNetwork: false`` or ``hostPort: 0``
    written out by a client must not count as a change. Pointer fields, where Go does tell
    0 from nil, are defaulted on both sides before any comparison, which makes the
    difference moot in practice.
    """
    if isinstance(value, dict):
        pruned = {k: prune_zero(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not _is_zero(v)}
    if isinstance(value, list):
        return [prune_zero(v) for v in value]
    return value


def _is_zero(value: object) -> bool:
    if isinstance(value, bool | int | float):
        return not value
    return value is None or value == "" or value == {} or value == []


def semantic_equal(a: object, b: object) -> bool:
    return prune_zero(a) == prune_zero(b)
