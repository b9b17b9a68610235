"""Merging an applied configuration into an object, and removing fields from one.

The value side of server-side apply, after structured-merge-diff's ``typed.Merge`` and
``typed.RemoveItems``:

* :func:`merge`: scalars and atomic lists/maps are replaced; granular maps merge per key;
  map lists merge items by their keys and set lists by value, shared items ordered as in
  the applied list, live-only items kept in place (duplicated live items are replaced by
  the applied one, not merged). A null in the applied object replaces a scalar but does
  not clear a granular map;
* :func:`remove_items`: the value without the given field-set members, each removed with
  everything below it. A container whose items all go stays as an empty container
  (``{}``/``[]``, as newer releases do) rather than 1.32's ``null`` -- the same thing once
  decoded into Go types, and consistent with a manager still owning the container itself.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pilothouse.apiserver.apply.fieldpath import FieldSet, PathElement
from pilothouse.apiserver.apply.typed import MISSING, TypeView, as_type, index_list, is_empty
from pilothouse.apiserver.schemas import SchemaNode


def merge(lhs: Any, rhs: Any, schema: SchemaNode | TypeView | None) -> Any:
    """``lhs`` with ``rhs`` merged over it (``TypedValue.Merge``). Either may be MISSING."""
    return _merge(lhs, rhs, as_type(schema))


def _merge(lhs: Any, rhs: Any, tv: TypeView) -> Any:
    if rhs is MISSING:
        return lhs
    if lhs is MISSING:
        return rhs
    shape = tv.shape(rhs)
    if shape != tv.shape(lhs) or shape == "leaf":
        return rhs
    if is_empty(lhs) and is_empty(rhs):
        return rhs
    if shape == "map":
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        out = {k: _merge(v, rm.get(k, MISSING), tv.child(k)[0]) for k, v in lm.items()}
        out.update((k, v) for k, v in rm.items() if k not in lm)
        return out
    return _merge_list(
        lhs if isinstance(lhs, list) else [], rhs if isinstance(rhs, list) else [], tv
    )


def _merge_list(lhs: list[Any], rhs: list[Any], tv: TypeView) -> list[Any]:
    elem = tv.element()
    left = [(tv.item_element(item, i), item) for i, item in enumerate(lhs)]
    counts: dict[Any, int] = {}
    for pe, _ in left:
        counts[pe] = counts.get(pe, 0) + 1
    first = index_list(lhs, tv)
    right = list(index_list(rhs, tv).items())
    in_right = {pe for pe, _ in right}
    # Shared items follow the applied order; live-only items stay where they were.
    shared = deque(pe for pe, _ in right if pe in first)
    out: list[Any] = []
    done: set[PathElement] = set()
    i = j = 0
    while i < len(left) or j < len(right):
        if i < len(left):
            pe, item = left[i]
            if not isinstance(pe, PathElement) or pe not in in_right:
                out.append(item)
                i += 1
                continue
            if pe in done or (shared and shared[0] != pe):
                i += 1
                continue
        if j < len(right):
            pe, ritem = right[j]
            j += 1
            # Duplicated live items are replaced by the applied one, not merged.
            litem = first.get(pe, MISSING) if counts.get(pe, 0) == 1 else MISSING
            out.append(_merge(litem, ritem, elem))
            done.add(pe)
            if shared and shared[0] == pe:
                shared.popleft()
            continue
        i += 1
    return out


# -- removal -------------------------------------------------------------------------------------


def remove_items(value: Any, fields: FieldSet, schema: SchemaNode | TypeView | None) -> Any:
    """``value`` without the given members (each removed with everything below it)."""
    return _remove(value, fields, as_type(schema))


def _remove(value: Any, fields: FieldSet, tv: TypeView) -> Any:
    # A container whose items all go stays as an empty container (see the module docstring).
    shape = tv.shape(value)
    if shape == "map" and isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            pe = PathElement.field(k)
            if fields.has_member(pe):
                continue
            sub = fields.child(pe)
            out[k] = v if sub is None else _remove(v, sub, tv.child(k)[0])
        return out
    if shape == "list" and isinstance(value, list):
        items: list[Any] = []
        elem = tv.element()
        for i, item in enumerate(value):
            ipe = tv.item_element(item, i)
            if isinstance(ipe, PathElement):
                if fields.has_member(ipe):
                    continue
                sub = fields.child(ipe)
                if sub is not None:
                    item = _remove(item, sub, elem)
            items.append(item)
        return items
    return value
