"""RFC 7386 JSON merge patch, as kube-apiserver applies ``application/merge-patch+json``.

The apiserver hands the body to ``MergePatch`` of ``gopkg.in/evanphx/json-patch.v4``; this
module follows that function, which is RFC 7386 plus a few edge rules:

* a member whose target is absent, ``null`` or not an object receives the patch value with
  ``null`` members removed at every object level -- also inside arrays, though ``null``
  *elements* of arrays survive (RFC 7386 would leave arrays untouched);
* a non-object patch value for an object target replaces it as is, nulls and all;
* at the top level a ``null`` or scalar patch is a 400 ``Invalid JSON Patch`` (the RFC would
  return the patch), an array patch *is* the result (which the caller's decoding into an
  object then rejects), and a non-object document is replaced by the pruned patch.

:func:`create` is the inverse (``CreateMergePatch``): the smallest patch turning one object
into another. Since ``null`` means "delete", ``apply(a, create(a, b)) == b`` holds whenever
``b`` contains no ``null`` values.

Inputs are never mutated: the document is deep-copied once and merged into in place, and
every patch value that lands in the result is copied (pruning copies as it goes).
"""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver.errors import bad_request
from pilothouse.apiserver.patch.jsonpatch import check_patch_depth, deep_copy, json_equal


def apply(doc: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``doc`` and return the result (a new value).

    Raises :class:`~pilothouse.apiserver.errors.ApiError` 400 ``Invalid JSON Patch`` for a
    ``null`` or scalar patch and ``Invalid JSON Document`` for a ``null`` document.
    """
    if not isinstance(patch, dict | list):
        raise bad_request("Invalid JSON Patch")
    check_patch_depth(patch)
    if doc is None:
        raise bad_request("Invalid JSON Document")
    if isinstance(patch, list) or not isinstance(doc, dict):
        return _pruned(patch)
    return _merge_members(deep_copy(doc), patch)


def _merge_members(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge ``patch`` into ``target``, which this module owns and edits in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif target.get(key) is None:
            target[key] = _pruned(value)
        else:
            target[key] = _merge_value(target[key], value)
    return target


def _merge_value(current: Any, patch: Any) -> Any:
    if not isinstance(current, dict):
        return _pruned(patch)
    if not isinstance(patch, dict):
        return deep_copy(patch)
    return _merge_members(current, patch)


def _pruned(value: Any) -> Any:
    """A copy of ``value`` without ``null`` object members, at any depth."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def create(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``original`` into ``modified`` (both JSON objects):
    changed and added members, recursing into objects present on both sides, and ``null``
    for members that disappeared. Arrays are compared whole and replaced when they differ.
    """
    if not isinstance(original, dict) or not isinstance(modified, dict):
        raise TypeError("a merge patch can only be created between two JSON objects")
    return _diff(original, modified)


def _diff(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, new in modified.items():
        if key not in original:
            patch[key] = deep_copy(new)
            continue
        old = original[key]
        if isinstance(old, dict) and isinstance(new, dict):
            nested = _diff(old, new)
            if nested:
                patch[key] = nested
        elif not json_equal(old, new):
            patch[key] = deep_copy(new)
    for key in original:
        if key not in modified:
            patch[key] = None
    return patch
