"""Ownership transfer for a write, as structured-merge-diff's ``merge.Updater.update`` does it.

Fields that a write adds or modifies are taken from every other manager -- or, when the
write is not forced, reported as an :class:`OwnershipConflict` -- and fields it removes are
dropped from everyone; entries left empty disappear. Non-apply writes (which are always
forced) and apply (which may not be) share this step; what the writing manager then owns
is each caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.apply.compare import Comparison, compare
from pilothouse.apiserver.apply.entries import Managed, ManagerKey
from pilothouse.apiserver.apply.fieldpath import FieldSet
from pilothouse.apiserver.apply.typed import TypeView


class OwnershipConflict(Exception):
    """Other managers own fields a write would change (``merge.Conflicts``)."""

    def __init__(self, conflicts: Mapping[ManagerKey, FieldSet]) -> None:
        super().__init__(f"{len(conflicts)} conflicting managers")
        self.conflicts = dict(conflicts)


def update_ownership(
    old: Any,
    new: Any,
    tv: TypeView,
    managed: Managed,
    workflow: ManagerKey,
    force: bool,
    ignored: FieldSet,
) -> Comparison:
    """Move ownership for a write from ``old`` to ``new`` by ``workflow`` (in place).

    Others lose what the write added or modified (or it raises OwnershipConflict when not
    forced) and everyone loses what it removed. Returns the comparison, reset fields excluded.
    """
    cmp = compare(old, new, tv)
    cmp.exclude(ignored)
    changed = cmp.modified.union(cmp.added)
    conflicts: dict[ManagerKey, FieldSet] = {}
    for key, entry in managed.items():
        if key == workflow:
            continue
        clash = entry.fields.intersection(changed)
        if not clash.empty:
            conflicts[key] = clash
    if conflicts and not force:
        raise OwnershipConflict(conflicts)
    for key, entry in managed.items():
        if key == workflow:
            continue
        if key in conflicts:
            entry.fields = entry.fields.difference(conflicts[key])
        if not cmp.removed.empty:
            entry.fields = entry.fields.difference(cmp.removed)
    for key in [k for k, e in managed.items() if e.fields.empty]:
        del managed[key]
    return cmp
