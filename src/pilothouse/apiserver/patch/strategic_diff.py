"""Two-way strategic merge patches: the patch kubectl computes between two versions.

:func:`create_two_way` is ``CreateTwoWayMergePatch`` of
``k8s.io/apimachinery/pkg/util/strategicpatch``, with the patch metadata read from a
:class:`SchemaNode` as :mod:`~pilothouse.apiserver.patch.strategic` reads it: changed,
added and deleted members (``null``), merge lists diffed by merge key (``$patch: delete``
for dropped elements) or as sets of scalars (``$deleteFromPrimitiveList/<f>``),
``$setElementOrder/<f>`` whenever a merge list changed or was reordered, and
``$retainKeys`` for fields with the ``retainKeys`` strategy. Everything else is replaced
whole. The result satisfies ``strategic.apply(a, create_two_way(a, b, s), s) == b`` for
null-free ``b`` with unique merge keys.
"""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.patch.jsonpatch import deep_copy, json_equal
from pilothouse.apiserver.patch.strategic import (
    DELETE_PREFIX,
    DIRECTIVE,
    ORDER_PREFIX,
    RETAIN_KEYS,
    UNKNOWN_SCHEMA,
    element_key,
    element_kind,
    field_schema,
    go_error,
    identity,
    item_schema,
    positions,
)
from pilothouse.apiserver.schemas import SchemaNode

__all__ = ["create_two_way"]


def create_two_way(
    original: dict[str, Any], modified: dict[str, Any], schema: SchemaNode | None
) -> dict[str, Any]:
    """The strategic merge patch turning ``original`` into ``modified`` as kubectl computes
    it (``CreateTwoWayMergePatch``: changed, added and deleted members, ``$setElementOrder``
    for merge lists, ``$retainKeys`` for retainKeys fields). Raises ValueError for lists the
    strategy cannot diff, such as merge-list elements without their merge key."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        raise TypeError("a strategic merge patch can only be created between two objects")
    try:
        return _diff_maps(original, modified, schema or UNKNOWN_SCHEMA, retain_keys=False)
    except ApiError as exc:
        raise ValueError(exc.message) from exc


def _diff_maps(
    original: dict[str, Any], modified: dict[str, Any], schema: SchemaNode, retain_keys: bool
) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, new in modified.items():
        old, child = original.get(key), field_schema(schema, key)
        if key not in original:
            patch[key] = deep_copy(new)
        elif (
            isinstance(old, dict)
            and isinstance(new, dict)
            and "replace" not in child.patch_strategy
        ):
            if nested := _diff_maps(old, new, child, "retainKeys" in child.patch_strategy):
                patch[key] = nested
        elif isinstance(old, list) and isinstance(new, list) and "merge" in child.patch_strategy:
            _diff_lists(key, old, new, child, patch)
        elif not json_equal(old, new):
            patch[key] = deep_copy(new)
    patch.update((key, None) for key in original if key not in modified)
    retained = sorted(k for k, v in modified.items() if v is not None)
    if retain_keys and patch and retained:
        patch[RETAIN_KEYS] = retained
    return patch


def _diff_lists(
    key: str, old: list[Any], new: list[Any], schema: SchemaNode, patch: dict[str, Any]
) -> None:
    if not old:
        if new:
            patch[key] = deep_copy(new)
        return
    merge_key = schema.patch_merge_key
    if element_kind(old, new) != "map":
        old_keys, new_keys = positions(old, None), positions(new, None)
        added = [v for k, v in {identity(v): v for v in new}.items() if k not in old_keys]
        removed = [v for k, v in {identity(v): v for v in old}.items() if k not in new_keys]
        if added:
            patch[key] = deep_copy(added)
        if removed:
            patch[f"{DELETE_PREFIX}/{key}"] = deep_copy(removed)
        if removed or not json_equal(old, new):
            patch[f"{ORDER_PREFIX}/{key}"] = deep_copy(new)
        return
    if not merge_key:
        raise go_error("cannot merge lists without merge key for type map")
    before = {k: old[i] for k, i in positions(old, merge_key).items()}
    changes: list[Any] = []
    for element in new:
        previous = before.get(element_key(element, merge_key))
        if previous is None:
            changes.append(deep_copy(element))
        elif delta := _diff_maps(
            previous, element, item_schema(schema), "retainKeys" in schema.patch_strategy
        ):
            changes.append({**delta, merge_key: deep_copy(element[merge_key])})
    kept = positions(new, merge_key)
    deletions = [
        {merge_key: deep_copy(before[k][merge_key]), DIRECTIVE: "delete"}
        for k in before
        if k not in kept
    ]
    if changes or deletions:
        patch[key] = changes + deletions
    reordered = [element_key(e, merge_key) for e in old] != [element_key(e, merge_key) for e in new]
    if changes or deletions or reordered:
        patch[f"{ORDER_PREFIX}/{key}"] = [{merge_key: deep_copy(e[merge_key])} for e in new]
