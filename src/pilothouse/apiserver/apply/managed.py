"""``metadata.managedFields`` bookkeeping, as kube-apiserver's field manager does it.

The real pipeline (``k8s.io/apimachinery/pkg/util/managedfields/internal``) is a chain of
managers; the parts reproduced here, in their order of effect:

* decoding: entries are keyed by an *identity* -- manager, operation, subresource and, for
  ``Update`` only, the apiVersion (an applier keeps one entry whatever version it uses).
  A write carrying ``managedFields: []`` or ``[{}]`` resets them; one carrying none, or
  undecodable ones, keeps the live object's; subresource writes always keep the live ones;
* skip-non-applied: an update (not a create) of an object that has no managed fields is not
  tracked, so a reset stays a reset until the next apply;
* ownership (``merge.Updater.update``): fields that a write adds or modifies are taken from
  every other manager, fields it removes are dropped from everyone; a non-apply write then
  owns what it changed, merged into that manager's previous entry, stamped with ``now``;
* strip-meta: ``apiVersion``, ``kind``, ``metadata`` itself and the server-populated metadata
  fields (name, namespace, uid, resourceVersion, generation, creationTimestamp, ...) are never
  owned; empty entries disappear;
* reset fields: the fields a strategy wipes on an endpoint (``status`` on the main resource
  of a kind with a status subresource, ``spec`` on ``/status``) are neither owned nor able to
  conflict there (:func:`reset_fields_for`);
* capping: beyond 10 ``Update`` entries the oldest are folded into ``ancient-changes``;
* encoding: entries sorted by operation, time, manager, apiVersion, subresource.

Comparison of two objects (``typed.Compare``) lives here too: it drives both updates and the
final ownership step of apply. A container that appears (or disappears) counts as added
(removed) itself, which is why create produces ``.`` entries for new maps and list items.

Not reproduced: conversion of entries recorded at another apiVersion (they are compared
as if recorded at the request's version) and schema-change reconciliation.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pilothouse.apiserver import schemas
from pilothouse.apiserver.apply.fieldpath import (
    FieldSet,
    Path,
    PathElement,
    TypeView,
    as_type,
    values_equal,
)
from pilothouse.apiserver.schemas import SchemaNode

#: Most ``Update`` entries kept before the oldest are merged (``DefaultMaxUpdateManagers``).
MAX_UPDATE_MANAGERS: Final = 10
ANCIENT_CHANGES: Final = "ancient-changes"
#: Longest manager name the server accepts (``FieldManagerMaxLength``).
FIELD_MANAGER_MAX_LENGTH: Final = 128


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: "No value at all", as opposed to an explicit JSON null.
MISSING: Final = _Missing()


def _p(*names: str) -> Path:
    return tuple(PathElement.field(n) for n in names)


_STRIPPED_META = "name namespace creationTimestamp selfLink uid clusterName generation"
#: Never owned by anyone (``stripMetaManager``).
STRIP_SET: Final = FieldSet.from_paths(
    [_p("apiVersion"), _p("kind"), _p("metadata")]
    + [_p("metadata", n) for n in (*_STRIPPED_META.split(), "managedFields", "resourceVersion")]
)


def reset_fields_for(subresource: str, has_status_subresource: bool) -> FieldSet:
    """The fields an endpoint's strategy resets (``GetResetFields``) for the common case:
    ``status`` on the main resource when a status subresource exists, ``spec`` on it."""
    if subresource == "status":
        return FieldSet.from_paths([_p("spec")])
    if not subresource and has_status_subresource:
        return FieldSet.from_paths([_p("status")])
    return FieldSet()


def default_manager(user_agent: str | None) -> str:
    """The manager of a write without ``fieldManager``: the User-Agent up to its first
    ``/``, printable characters only, at most 128 bytes; ``unknown`` if that is empty."""
    out, size = [], 0
    for ch in (user_agent or "").split("/", 1)[0]:
        if not ch.isprintable():
            continue
        n = len(ch.encode())
        if size + n > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
        size += n
    return "".join(out) or "unknown"


# -- identities and entries --------------------------------------------------------------


@dataclass(frozen=True)
class ManagerKey:
    """A manager identity; ``api_version`` is empty for appliers."""

    manager: str
    operation: str
    api_version: str = ""
    subresource: str = ""

    @classmethod
    def of(cls, manager: str, operation: str, api_version: str, subresource: str) -> ManagerKey:
        return cls(
            manager or "unknown",
            operation,
            api_version if operation == "Update" else "",
            subresource,
        )

    def identifier(self) -> str:
        """The JSON identifier the real server sorts conflicts by."""
        d = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            d["apiVersion"] = self.api_version
        if self.subresource:
            d["subresource"] = self.subresource
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False)

    def describe(self) -> str:
        """``"name" with subresource "status" using apps/v1``, as in conflict messages."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass
class ManagedEntry:
    fields: FieldSet
    api_version: str
    time: str | None = None


Managed = dict[ManagerKey, ManagedEntry]


def decode_managed_fields(entries: Any) -> Managed:
    """Decode ``metadata.managedFields``; raises ValueError as the real decoder would."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    out: Managed = {}
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise ValueError(f"managed fields entry {i} must be an object")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        api = e.get("apiVersion")
        if not isinstance(api, str) or not api:
            raise ValueError("apiVersion must not be empty")
        ft = e.get("fieldsType") or ""
        if ft != "FieldsV1":
            raise ValueError(
                f"missing fieldsType in managed fields entry {i}"
                if not ft
                else f"invalid fieldsType {json.dumps(ft)} in managed fields entry {i}"
            )
        raw = e.get("fieldsV1") or {}
        try:
            fields = FieldSet.from_fields_v1(raw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"error decoding versioned set from entry {i}: {exc}") from exc
        key = ManagerKey(
            str(e.get("manager") or ""),
            op,
            api if op == "Update" else "",
            str(e.get("subresource") or ""),
        )
        t = e.get("time")
        out[key] = ManagedEntry(fields, api, t if isinstance(t, str) else None)
    return out


def _epoch(t: str | None) -> float:
    if not t:
        return 0.0
    try:
        return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def encode_managed_fields(managed: Managed) -> list[dict[str, Any]]:
    """Encode entries in the real server's order; an empty list means "omit the field"."""
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for key, entry in managed.items():
        e: dict[str, Any] = {}
        if key.manager:
            e["manager"] = key.manager
        e["operation"] = key.operation
        e["apiVersion"] = entry.api_version
        if entry.time:
            e["time"] = entry.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = entry.fields.to_fields_v1()
        if key.subresource:
            e["subresource"] = key.subresource
        order = (
            key.operation,
            int(_epoch(entry.time)),
            key.manager,
            entry.api_version,
            key.subresource,
        )
        out.append((order, e))
    out.sort(key=lambda pair: pair[0])
    return [e for _, e in out]


def strip_meta(managed: Managed) -> None:
    """Drop the never-owned fields from every entry, then the entries left empty."""
    for key in list(managed):
        fields = managed[key].fields.difference(STRIP_SET)
        if fields.empty:
            del managed[key]
        else:
            managed[key].fields = fields


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Fold the oldest ``Update`` entries into per-version ``ancient-changes`` buckets."""
    updaters = [k for k in managed if k.operation == "Update"]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda k: (int(_epoch(managed[k].time)), k.identifier()))
    first_of_version: dict[str, ManagerKey] = {}
    remaining = len(updaters)
    for key in updaters:
        if remaining <= limit:
            break
        if key not in managed:
            continue
        entry = managed[key]
        version = entry.api_version
        bucket = ManagerKey(ANCIENT_CHANGES, "Update", version, "")
        first = first_of_version.get(version)
        if first is None:
            first_of_version[version] = key
            continue
        if bucket not in managed and first in managed:
            managed[bucket] = managed.pop(first)
        prior = managed.get(bucket)
        merged = entry.fields if prior is None else entry.fields.union(prior.fields)
        managed[bucket] = ManagedEntry(merged, version, entry.time)
        if key != bucket:
            del managed[key]
        remaining -= 1


# -- comparison ----------------------------------------------------------------------------


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
    """Fields added, modified and removed going from ``lhs`` to ``rhs`` (``typed.Compare``)."""
    c = Comparison()
    _cmp(lhs, rhs, as_type(schema), (), c)
    return c


def is_empty(v: Any) -> bool:
    """Absent, null, ``{}`` or ``[]``: what SSA compares and merges as a leaf."""
    return v is MISSING or v is None or v == {} or v == []


def _leaf(lhs: Any, rhs: Any, path: Path, c: Comparison) -> None:
    if lhs is MISSING:
        c.added._insert(path)
    elif rhs is MISSING:
        c.removed._insert(path)
    elif not values_equal(lhs, rhs):
        c.modified._insert(path)


def _cmp(lhs: Any, rhs: Any, tv: TypeView, path: Path, c: Comparison) -> None:
    ls = None if lhs is MISSING else tv.shape(lhs)
    rs = None if rhs is MISSING else tv.shape(rhs)
    if ls is not None and rs is not None and ls != rs:
        # A value that changed shape: the node is modified, the old children are gone
        # and the new ones arrived.
        c.modified._insert(path)
        if ls != "leaf":
            _cmp_children(lhs, MISSING, tv, ls, path, c)
        if rs != "leaf":
            _cmp_children(MISSING, rhs, tv, rs, path, c)
        return
    shape = ls or rs
    if shape == "leaf" or (is_empty(lhs) and is_empty(rhs)):
        # Empty/null containers compare as leaves, which keeps the null/{} distinction.
        _leaf(lhs, rhs, path, c)
        return
    _cmp_children(lhs, rhs, tv, shape or "leaf", path, c)
    if lhs is MISSING:
        c.added._insert(path)
    elif rhs is MISSING:
        c.removed._insert(path)


def index_list(items: Any, tv: TypeView) -> dict[PathElement, Any]:
    """Items of a granular list by path element; later duplicates and unkeyable items are
    ignored, as the real comparison does."""
    out: dict[PathElement, Any] = {}
    if isinstance(items, list):
        for i, item in enumerate(items):
            pe = tv.item_element(item, i)
            if isinstance(pe, PathElement) and pe not in out:
                out[pe] = item
    return out


def _cmp_children(lhs: Any, rhs: Any, tv: TypeView, shape: str, path: Path, c: Comparison) -> None:
    if shape == "map":
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        for k, v in lm.items():
            _cmp(v, rm.get(k, MISSING), tv.child(k)[0], (*path, PathElement.field(k)), c)
        for k, v in rm.items():
            if k not in lm:
                _cmp(MISSING, v, tv.child(k)[0], (*path, PathElement.field(k)), c)
        return
    elem = tv.element()
    li, ri = index_list(lhs, tv), index_list(rhs, tv)
    for pe, v in li.items():
        _cmp(v, ri.get(pe, MISSING), elem, (*path, pe), c)
    for pe, v in ri.items():
        if pe not in li:
            _cmp(MISSING, v, elem, (*path, pe), c)


# -- ownership -------------------------------------------------------------------------------


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


# -- non-apply writes --------------------------------------------------------------------------


class _Auto:
    pass


AUTO: Final = _Auto()


def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def without_managed_fields(obj: Any) -> dict[str, Any]:
    """A copy of ``obj`` (nested values shared) without ``metadata.managedFields``."""
    out = dict(obj) if isinstance(obj, Mapping) else {}
    if isinstance(out.get("metadata"), Mapping):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "managedFields"}
    return out


def _decode_live(obj: Any) -> Managed:
    try:
        return decode_managed_fields(_meta(obj).get("managedFields"))
    except ValueError:
        return {}


def _managed_for_update(old_obj: Any, new_obj: Any, subresource: str) -> Managed:
    if subresource:
        return _decode_live(old_obj)
    sent = _meta(new_obj).get("managedFields", MISSING)
    if sent == [] or sent == [{}]:
        return {}
    if sent is not MISSING and sent is not None:
        try:
            managed = decode_managed_fields(sent)
        except ValueError:
            managed = {}
        if managed:
            return managed
    return _decode_live(old_obj)


def record_update(
    old_obj: Mapping[str, Any] | None,
    new_obj: Mapping[str, Any],
    manager: str,
    api_version: str,
    now: str,
    subresource: str = "",
    *,
    schema: SchemaNode | TypeView | _Auto | None = AUTO,
    reset_fields: FieldSet | None = None,
) -> list[dict[str, Any]]:
    """The ``managedFields`` after a create/update/patch (``old_obj`` None for a create).

    ``schema`` defaults to the built-in schema of ``new_obj``'s apiVersion/kind (deduced
    types if there is none; pass the CRD schema for custom resources). ``reset_fields``
    defaults to :func:`reset_fields_for` without a status subresource. Returns the list to
    store, empty meaning the field is omitted. Never raises on JSON content (undecodable
    entries fall back or reset, unknown fields are deduced), like the real ``UpdateNoErrors``.
    """
    if isinstance(schema, _Auto):
        api, kind = new_obj.get("apiVersion"), new_obj.get("kind")
        schema = (
            schemas.builtin_schema(api, kind)
            if isinstance(api, str) and isinstance(kind, str)
            else None
        )
    tv = as_type(schema)
    ignored = reset_fields if reset_fields is not None else reset_fields_for(subresource, False)
    managed = _managed_for_update(old_obj, new_obj, subresource)
    if not managed and old_obj is not None and _meta(old_obj).get("uid"):
        return []
    old = without_managed_fields(old_obj) if old_obj is not None else {}
    new = without_managed_fields(new_obj)
    current = ManagerKey("\x00current-operation", "Update", api_version, subresource)
    cmp = update_ownership(old, new, tv, managed, current, True, ignored)
    owned = cmp.modified.union(cmp.added).difference(cmp.removed).recursive_difference(ignored)
    if not owned.empty:
        managed[current] = ManagedEntry(owned, api_version)
    strip_meta(managed)
    done = managed.pop(current, None)
    if done is not None:
        key = ManagerKey.of(manager, "Update", api_version, subresource)
        prior = managed.get(key)
        fields = done.fields if prior is None else done.fields.union(prior.fields)
        managed[key] = ManagedEntry(fields, api_version, now)
    cap_update_managers(managed)
    return encode_managed_fields(managed)
