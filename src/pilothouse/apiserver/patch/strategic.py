"""Strategic merge patch, as kube-apiserver applies it to built-in kinds.

This follows ``StrategicMergeMapPatch`` (``k8s.io/apimachinery/pkg/util/strategicpatch``),
reading the patch metadata that upstream takes from Go struct tags from the OpenAPI
extensions of a :class:`SchemaNode` (``x-kubernetes-patch-strategy``/``-patch-merge-key``):

* objects merge recursively, ``null`` deletes a member, other values replace;
* lists whose strategy includes ``merge`` merge -- lists of objects by their merge key,
  lists of scalars as ordered sets; every other list is replaced whole;
* directives: ``$patch: replace|delete`` in an object (``delete`` leaves ``{}``, as
  upstream), ``$patch: delete|replace`` elements of merge lists, ``$retainKeys`` (honoured
  wherever it appears, as upstream), ``$deleteFromPrimitiveList/<f>``, ``$setElementOrder/<f>``.

Merge-list order is upstream's: patch elements in patch order, server-only elements in
their old relative order, and a server-only element goes first only when the old list had
it before the patch element -- so brand-new elements *lead* unless ``$setElementOrder``
(which kubectl always sends) says otherwise. An unknown schema (``None``, or a field the
schema lacks) makes lists atomic: JSON merge patch semantics, directives still understood.

Status codes are kube-apiserver's: malformed ``$retainKeys``/``$deleteFromPrimitiveList``/
``$setElementOrder`` are 400 ``BadRequest``; lists of lists the generic 422; everything
upstream returns as a plain Go error (merge-list element without its merge key, ``$patch:
merge``, unknown ``$patch`` values, an order list contradicting the patch) a 500 with an
empty reason, which is what ``ErrorToAPIStatus`` makes of it. Messages use upstream's words.

Where upstream is erratic we do the obvious thing: a value added where there was none is
itself patch-processed (upstream stores it verbatim, ``$patch`` markers included),
``$deleteFromPrimitiveList`` only ever removes (upstream may *create* the list from it),
object lists without a merge key are not reordered (upstream panics), and an unknown field
never fails a lookup.

The schema lookups, element identities and Go-worded errors defined here are shared with
:mod:`~pilothouse.apiserver.patch.strategic_diff`, which computes the patch kubectl sends
for a two-way diff.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from typing import Any

from pilothouse.apiserver.errors import ApiError, bad_request
from pilothouse.apiserver.patch.jsonpatch import (
    check_patch_depth,
    deep_copy,
    unprocessable,
)
from pilothouse.apiserver.schemas import SchemaNode

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_PREFIX = "$deleteFromPrimitiveList"
ORDER_PREFIX = "$setElementOrder"
_PARALLEL = (DELETE_PREFIX, ORDER_PREFIX)

ERR_BAD_JSON_DOC = "invalid JSON document"
ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_ORDER_LIST = "invalid patch format of setElementOrder list"
ERR_LIST_OF_LISTS = "lists of lists are not supported"

#: Standing in for "no schema" spares a None check at every lookup: no strategy, no merge
#: key, and every field and item of it unknown in turn.
UNKNOWN_SCHEMA = SchemaNode({})

_GO_TYPES: dict[type, str] = {
    dict: "map[string]interface {}",
    list: "[]interface {}",
    str: "string",
    bool: "bool",
    int: "int64",
    float: "float64",
    type(None): "%!s(<nil>)",
}


def apply(
    original: dict[str, Any], patch: dict[str, Any], schema: SchemaNode | None
) -> dict[str, Any]:
    """Apply a strategic merge ``patch`` to ``original`` and return a new object.

    ``schema`` is the root schema of the kind (``schemas.builtin_schema(...)``), None if
    unknown. Raises :class:`ApiError` as kube-apiserver would answer.
    """
    if patch is None:
        patch = {}  # Go decodes ``null`` into an empty map: nothing to do
    if not isinstance(patch, dict):
        kind = "array" if isinstance(patch, list) else _kind(patch)
        raise bad_request(
            f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        )
    if not isinstance(original, dict):
        raise bad_request(ERR_BAD_JSON_DOC)
    check_patch_depth(patch)
    return _merge_map(deep_copy(original), deep_copy(patch), schema or UNKNOWN_SCHEMA)


# -- errors, Go-flavoured formatting, element identity -------------------------------------


def _go(value: Any) -> str:
    """``fmt``'s ``%v`` of a decoded JSON value, for messages that quote one."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _kind(value: Any) -> str:
    """The element kinds ``sliceElementType`` tells apart (numbers of any width are one)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    kinds: dict[type, str] = {dict: "map", list: "slice", str: "string"}
    return kinds.get(type(value), "nil")


def go_error(message: str) -> ApiError:
    """A plain Go error reaching the handler: 500 with an empty ``reason``."""
    return ApiError(500, "", message)


def _bad_arg_type(expected: type, actual: Any) -> ApiError:
    got = _GO_TYPES.get(type(actual), "")
    return go_error(f"expected a {_GO_TYPES[expected]}, but received a {got}")


def identity(value: Any) -> Hashable:
    """Identity as Go's ``==`` on ``interface{}`` sees it: same type and value (``1``,
    ``1.0`` and ``true`` differ). Containers, which Go cannot compare, get a canonical
    encoding instead of a panic."""
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value), value)


def element_key(element: Any, merge_key: str | None) -> Hashable:
    """The identity of a list element: of its merge-key value, or of itself for scalars."""
    if merge_key is None:
        return identity(element)
    if not isinstance(element, dict):
        raise _bad_arg_type(dict, element)
    if merge_key not in element:
        raise go_error(f"map: {_go(element)} does not contain declared merge key: {merge_key}")
    return identity(element[merge_key])


def positions(elements: Iterable[Any], merge_key: str | None) -> dict[Hashable, int]:
    """Where each element identity first occurs."""
    where: dict[Hashable, int] = {}
    for i, element in enumerate(elements):
        where.setdefault(element_key(element, merge_key), i)
    return where


def element_kind(*lists: list[Any]) -> str:
    """The one kind of all the elements, as upstream's ``sliceElementType`` checks it."""
    first: str | None = None
    for value in (v for lst in lists for v in lst):
        kind = _kind(value)
        if first is None:
            if kind == "slice":
                raise unprocessable(ERR_LIST_OF_LISTS)
            first = kind
        elif kind != first:
            raise go_error(f"list element types are not identical: {_go(list(lists))}")
    return first or "nil"


def _suffix(key: str, prefix: str, error: str) -> str:
    head, slash, field = key.partition("/")
    if not slash or head != prefix:
        raise bad_request(error)
    return field


def field_schema(schema: SchemaNode, key: str) -> SchemaNode:
    """The schema of field ``key``, :data:`UNKNOWN_SCHEMA` if the schema lacks it."""
    return schema.field(key) or UNKNOWN_SCHEMA


def item_schema(schema: SchemaNode) -> SchemaNode:
    """The schema of a list's items, :data:`UNKNOWN_SCHEMA` if unknown."""
    return schema.items() or UNKNOWN_SCHEMA


# -- merging maps --------------------------------------------------------------------------


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], schema: SchemaNode
) -> dict[str, Any]:
    """Merge ``patch`` into ``original``; both are owned by this call and edited in place."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return _merge_map({}, patch, schema)
        if directive == "delete":
            return {}
        patch = {DIRECTIVE: directive, **patch}
        raise go_error(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")
    _retain_keys(original, patch)
    _set_element_orders(original, patch, schema)
    for key, value in patch.items():
        if key.startswith(DELETE_PREFIX):
            _delete_from_list(original, _suffix(key, DELETE_PREFIX, ERR_PRIMITIVE_LIST), value)
        elif value is None:
            original.pop(key, None)
        else:
            original[key] = _merge_value(original.get(key), value, field_schema(schema, key))
    return original


def _merge_value(current: Any, value: Any, schema: SchemaNode) -> Any:
    if isinstance(current, dict) and isinstance(value, dict):
        if "replace" not in schema.patch_strategy:
            return _merge_map(current, value, schema)
    elif isinstance(current, list) and isinstance(value, list):
        return _merge_list(current, value, schema)
    return _fresh(value, schema)


def _fresh(value: Any, schema: SchemaNode) -> Any:
    """A patch value landing where there is nothing to merge with, its own directives and
    nulls processed (upstream stores it verbatim and lets decoding sort it out)."""
    if isinstance(value, dict):
        return _merge_map({}, value, schema)
    if not isinstance(value, list) or "merge" not in schema.patch_strategy:
        return value
    return [
        _fresh(element, item_schema(schema))
        for element in value
        if not (isinstance(element, dict) and element.get(DIRECTIVE) in ("delete", "replace"))
    ]


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    listed = patch.pop(RETAIN_KEYS)
    if not isinstance(listed, list):
        raise bad_request(ERR_RETAIN_KEYS)
    keep = {k for k in listed if isinstance(k, str)}
    for key, value in patch.items():
        # Deletions and the parallel directive lists need not be retained to be allowed.
        if key not in keep and value is not None and not key.startswith(_PARALLEL):
            raise bad_request(ERR_RETAIN_KEYS)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _delete_from_list(original: dict[str, Any], field: str, values: Any) -> None:
    if values is None:
        original.pop(field, None)  # a null is a null, whatever its key looks like
        return
    if not isinstance(values, list):
        raise bad_request(ERR_PRIMITIVE_LIST)
    if isinstance(current := original.get(field), list):
        doomed = {identity(v) for v in values}
        original[field] = [v for v in current if identity(v) not in doomed]


# -- merging lists -------------------------------------------------------------------------


def _merge_list(original: list[Any], patch: list[Any], schema: SchemaNode) -> list[Any]:
    if "merge" not in schema.patch_strategy:
        return patch
    if not original and not patch:
        return original
    if element_kind(original, patch) != "map":
        merged = list({identity(v): v for v in original + patch}.values())  # a set, as upstream
        return _arrange(merged, patch, original, None)
    merge_key = schema.patch_merge_key
    if not merge_key:
        kind = "struct" if item_schema(schema).properties else "map"
        raise go_error(f"cannot merge lists without merge key for type {kind}")
    plain: list[Any] = []
    doomed: set[Hashable] = set()
    replace = False
    for element in patch:
        directive = element.get(DIRECTIVE)
        if DIRECTIVE not in element:
            plain.append(element)
        elif directive == "delete":
            doomed.add(element_key(element, merge_key))
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise go_error("merging lists cannot yet be specified in the patch")
        else:
            raise go_error(f"unknown patch type: {_go(directive)} in map: {_go(element)}")
    if replace:  # the patch's plain elements become the list, in their order
        original, plain = [_fresh(e, item_schema(schema)) for e in plain], []
    elif doomed:
        original = [
            e for e in original if not (merge_key in e and identity(e[merge_key]) in doomed)
        ]
    merged = list(original)
    where = {
        identity(e[merge_key]): i for i, e in reversed(list(enumerate(merged))) if merge_key in e
    }
    for element in plain:
        key = element_key(element, merge_key)
        if (at := where.get(key)) is None:
            where[key] = len(merged)
            merged.append(_fresh(element, item_schema(schema)))
        else:
            merged[at] = _merge_map(merged[at], element, item_schema(schema))
    return _arrange(merged, plain, original, merge_key)


def _arrange(
    merged: list[Any], wanted: list[Any], server: list[Any], merge_key: str | None
) -> list[Any]:
    """Upstream's ``normalizeElementOrder``: elements named in ``wanted`` in its order,
    the rest in the order of ``server``, interleaved so that a server-only element precedes
    a wanted one only when ``server`` had them in that order."""
    if merge_key is None and any(isinstance(e, dict | list) for e in merged):
        return merged  # no identity to order object elements by
    in_wanted, in_server = positions(wanted, merge_key), positions(server, merge_key)
    keyed = [(element_key(e, merge_key), e) for e in merged]
    ours = sorted((p for p in keyed if p[0] in in_wanted), key=lambda p: in_wanted[p[0]])
    theirs = sorted(
        (p for p in keyed if p[0] not in in_wanted),
        key=lambda p: in_server.get(p[0], len(server)),
    )
    result: list[Any] = []
    i = j = 0
    while i < len(theirs) and j < len(ours):
        left, right = in_server.get(theirs[i][0]), in_server.get(ours[j][0])
        if left is not None and right is not None and left < right:
            result.append(theirs[i][1])
            i += 1
        else:
            result.append(ours[j][1])
            j += 1
    return result + [e for _, e in theirs[i:]] + [e for _, e in ours[j:]]


def _set_element_orders(
    original: dict[str, Any], patch: dict[str, Any], schema: SchemaNode
) -> None:
    """Process each ``$setElementOrder/<field>`` together with ``<field>`` itself, which
    is then taken out of the patch."""
    for directive in [k for k in patch if k.startswith(ORDER_PREFIX)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type(list, order)
        field = _suffix(directive, ORDER_PREFIX, ERR_ORDER_LIST)
        child = field_schema(schema, field)
        for side in (original, patch):
            if field in side and not isinstance(side[field], list):
                raise _bad_arg_type(list, side[field])
        server: list[Any] = original.get(field) or []
        _check_order(patch.get(field) or [], order, child.patch_merge_key)
        if field in patch:
            new = patch.pop(field)
            merged = _merge_list(server, new, child) if field in original else _fresh(new, child)
        elif field in original:
            merged = server
        else:
            continue
        original[field] = _arrange(merged, order, server, child.patch_merge_key)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    """Every non-directive patch element must appear in ``order``, in the same order."""
    if not patch_list or not order:
        return
    if merge_key is not None and (bad := [e for e in patch_list if not isinstance(e, dict)]):
        raise _bad_arg_type(dict, bad[0])
    elements = [e for e in patch_list if not (isinstance(e, dict) and DIRECTIVE in e)]
    p = s = 0
    while p < len(elements) and s < len(order):
        if element_key(elements[p], merge_key) == element_key(order[s], merge_key):
            p += 1
        s += 1
    if p < len(elements):
        raise go_error(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match "
            f"{ORDER_PREFIX} list:\n{_go(order)}\n"
        )
