"""Comparison of two objects under a schema (structured-merge-diff's ``typed.Compare``).

:func:`compare` reports the fields added, modified and removed going from one object to
another. It drives both ``managedFields`` updates of non-apply writes and the final
ownership step of apply. A container that appears (or disappears) counts as added
(removed) itself, with everything below it, which is why a create produces ``.`` entries
for new maps and list items. Empty and null containers compare as leaves, which keeps the
``null``/``{}`` distinction; a value that changes shape (a map becoming a string) is
modified, its old children removed and its new ones added.

The result trees are built level by level rather than path by path, and equal subtrees
(:func:`~pilothouse.apiserver.apply.fieldpath.same_value`) are skipped without a walk,
so an update costs in proportion to what it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pilothouse.apiserver.apply.fieldpath import FieldSet, PathElement, same_value, values_equal
from pilothouse.apiserver.apply.typed import MISSING, TypeView, as_type, index_list, is_empty
from pilothouse.apiserver.schemas import SchemaNode


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def exclude(self, fields: FieldSet) -> None:
        if not fields.empty:
            self.added = self.added.recursive_difference(fields)
            self.modified = self.modified.recursive_difference(fields)
            self.removed = self.removed.recursive_difference(fields)


def compare(lhs: Any, rhs: Any, schema: SchemaNode | TypeView | None) -> Comparison:
    """Fields added, modified and removed going from ``lhs`` to ``rhs`` (``typed.Compare``).
    Either may be :data:`~pilothouse.apiserver.apply.typed.MISSING`."""
    # The root is compared as the child of a placeholder level; the root path itself is
    # never a member (nobody owns the whole object), so only what is below it is kept.
    top = _Level()
    _cmp(lhs, rhs, as_type(schema), _ROOT, top)
    added, modified, removed = (
        node[1].get(_ROOT) for node in (top.added, top.modified, top.removed)
    )
    return Comparison(
        FieldSet() if added is None else added,
        FieldSet() if modified is None else modified,
        FieldSet() if removed is None else removed,
    )


_ROOT: Final = PathElement.field("")

#: One node of a result tree under construction: its members and its non-empty subtrees.
_Node = tuple[set[PathElement], dict[PathElement, FieldSet]]


class _Level:
    """The same node of the three result trees (added, modified, removed)."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added: _Node = (set(), {})
        self.modified: _Node = (set(), {})
        self.removed: _Node = (set(), {})

    def attach(self, pe: PathElement, below: _Level) -> None:
        """Hang ``below``'s non-empty trees under ``pe``."""
        for mine, theirs in (
            (self.added, below.added),
            (self.modified, below.modified),
            (self.removed, below.removed),
        ):
            if theirs[0] or theirs[1]:
                mine[1][pe] = FieldSet.adopt(*theirs)


def _cmp(lhs: Any, rhs: Any, tv: TypeView, pe: PathElement, out: _Level) -> None:
    """Compare the values at ``pe``, a child path of the node ``out`` stands for."""
    if lhs is MISSING or rhs is MISSING:
        # Appeared or disappeared: the path and everything below it.
        node = out.added if lhs is MISSING else out.removed
        node[0].add(pe)
        below = _everything_below(rhs if lhs is MISSING else lhs, tv)
        if below is not None:
            node[1][pe] = below
        return
    if lhs == rhs and same_value(lhs, rhs):
        return
    ls, rs = tv.shape(lhs), tv.shape(rhs)
    if ls != rs:
        # A value that changed shape: the node is modified, the old children are gone
        # and the new ones arrived.
        out.modified[0].add(pe)
        for node, value in ((out.removed, lhs), (out.added, rhs)):
            below = _everything_below(value, tv)
            if below is not None:
                node[1][pe] = below
        return
    if ls == "leaf" or (is_empty(lhs) and is_empty(rhs)):
        if not values_equal(lhs, rhs):
            out.modified[0].add(pe)
        return
    level = _Level()
    if ls == "map":
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        for k, v in lm.items():
            _cmp(v, rm.get(k, MISSING), tv.child(k)[0], PathElement.field(k), level)
        for k, v in rm.items():
            if k not in lm:
                _cmp(MISSING, v, tv.child(k)[0], PathElement.field(k), level)
    else:
        elem = tv.element()
        li, ri = index_list(lhs, tv), index_list(rhs, tv)
        for ipe, v in li.items():
            _cmp(v, ri.get(ipe, MISSING), elem, ipe, level)
        for ipe, v in ri.items():
            if ipe not in li:
                _cmp(MISSING, v, elem, ipe, level)
    out.attach(pe, level)


def _everything_below(value: Any, tv: TypeView) -> FieldSet | None:
    """Every field below the path of a value that appears or disappears, None if none:
    the children of a granular container, each a member, recursively."""
    shape = tv.shape(value)
    if shape == "leaf" or is_empty(value):
        return None
    members: set[PathElement] = set()
    children: dict[PathElement, FieldSet] = {}
    if shape == "map":
        for k, v in value.items():
            pe = PathElement.field(k)
            members.add(pe)
            # Only a non-empty container can have anything below it.
            if isinstance(v, dict | list) and v:
                below = _everything_below(v, tv.child(k)[0])
                if below is not None:
                    children[pe] = below
    else:
        elem = tv.element()
        for pe, item in index_list(value, tv).items():
            members.add(pe)
            if isinstance(item, dict | list) and item:
                below = _everything_below(item, elem)
                if below is not None:
                    children[pe] = below
    # Unkeyable list items are skipped, so a non-empty list may still have nothing below.
    return FieldSet.adopt(members, children) if members else None
