"""Server-side apply: merge an applied configuration into the live object and track who owns
what, following ``merge.Updater.Apply`` of structured-merge-diff and kube-apiserver's field
manager chain.

The steps, each as the real server does them:

1. Request checks: the body's group/version/kind must be present and match the endpoint's
   version (``invalid object type: apps/v1, Kind=Deployment``, 400), ``metadata.managedFields``
   must be absent or null (``metadata.managedFields must be nil``, 400). Schema violations
   of the applied object -- undeclared fields, duplicate or unkeyable map-list items, maps
   or nulls in set lists -- fail as the real server does in 1.32: 500 with
   ``failed to create typed patch object (ns/name; gvk): .path: ...``.
2. Merge: the applied object is merged over the live one. Scalars and atomic lists/maps
   are replaced; granular maps merge per key; map lists merge items by their keys and set
   lists by value, shared items ordered as in the applied list, live-only items kept in
   place. A null in the applied object replaces a scalar but does not clear a granular map.
3. The applier's new field set is exactly what it applied (minus reset fields).
4. Prune: what the applier owned last time and no longer applies is removed, unless
   another manager owns it; declared struct fields count as owned with their children,
   so dropping the last owned field of a struct removes the struct.
5. Ownership: fields the apply adds or changes that another manager owns with a different
   value are conflicts -- 409 with one ``FieldManagerConflict`` cause per field -- unless
   ``force``, which takes them. Same value means shared ownership. Fields the apply removed
   are dropped from every manager.
6. For the manager ``kubectl`` (``kubectl apply --server-side``), conflicts on fields the
   object's ``kubectl.kubernetes.io/last-applied-configuration`` already set to their live
   value are forgiven (the client-side to server-side upgrade path), and that annotation is
   refreshed if present.
7. A no-op apply leaves the object and the applier's timestamp untouched (its field set is
   still updated).

Removal follows structured-merge-diff, keeping a container emptied by pruning as ``{}``/``[]``
(as newer releases do) rather than 1.32's ``null``. Defaulting the result, and restoring
reset fields (``status`` on the main resource) are the caller's jobs, as they are separate
strategy steps in the real server too.
"""

from __future__ import annotations

import copy
import json
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from pilothouse.apiserver.apply.fieldpath import (
    FieldSet,
    PathElement,
    TypeView,
    as_type,
    ensure_named_fields_are_members,
    fields_of,
    go_json,
    path_string,
    values_equal,
)
from pilothouse.apiserver.apply.managed import (
    MISSING,
    ManagedEntry,
    ManagerKey,
    OwnershipConflict,
    cap_update_managers,
    compare,
    decode_managed_fields,
    encode_managed_fields,
    index_list,
    is_empty,
    reset_fields_for,
    strip_meta,
    update_ownership,
)
from pilothouse.apiserver.errors import ApiError, bad_request
from pilothouse.apiserver.schemas import SchemaNode

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
_ANNOTATIONS_LIMIT: Final = 256 * 1024


class ApplyConflict(ApiError):
    """409 Conflict listing every field another manager owns (``NewApplyConflict``)."""

    def __init__(self, conflicts: Mapping[ManagerKey, FieldSet]) -> None:
        ordered = sorted(conflicts.items(), key=lambda kv: kv[0].identifier())
        self.conflicts = [(key, path) for key, fs in ordered for path in fs.paths()]
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {key.describe()}",
                "field": path_string(path),
            }
            for key, path in self.conflicts
        ]
        if len(self.conflicts) == 1:
            key, path = self.conflicts[0]
            message = (
                f"Apply failed with 1 conflict: conflict with {key.describe()}: {path_string(path)}"
            )
        else:
            lines = []
            for key, fs in ordered:
                lines.append(f"conflicts with {key.describe()}:")
                lines.extend(f"- {path_string(p)}" for p in fs.paths())
            message = f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)
        super().__init__(409, "Conflict", message, {"causes": causes})


# -- merge ------------------------------------------------------------------------------------


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


# -- removal ------------------------------------------------------------------------------------


def remove_items(value: Any, fields: FieldSet, schema: SchemaNode | TypeView | None) -> Any:
    """``value`` without the given members (each removed with everything below it)."""
    return _remove(value, fields, as_type(schema))


def _remove(value: Any, fields: FieldSet, tv: TypeView) -> Any:
    # A container whose items all go stays as an empty container: structured-merge-diff
    # 1.32 leaves null there, newer releases keep {} / [] -- the same thing once decoded
    # into Go types, and consistent with a manager still owning the container itself.
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


# -- apply --------------------------------------------------------------------------------------


def _prune(
    merged: Any, managed: dict[ManagerKey, ManagedEntry], last: FieldSet | None, tv: TypeView
) -> Any:
    if last is None or last.empty:
        return merged

    def named(fs: FieldSet) -> FieldSet:
        return ensure_named_fields_are_members(fs, tv)

    last_named = named(last)
    pruned = remove_items(merged, last_named, tv)
    # Add back what someone (including the applier's new set) still owns...
    owned = FieldSet()
    for entry in managed.values():
        owned = owned.union(entry.fields)
    merged_set = named(fields_of(merged, tv))
    keep = named(fields_of(pruned, tv)).union(named(owned))
    pruned = remove_items(merged, merged_set.difference(keep), tv)
    # ...and what the applier never owned (unowned or defaulted fields).
    gone = merged_set.difference(named(fields_of(pruned, tv))).intersection(last_named)
    return remove_items(merged, gone, tv)


def _apply_once(
    live: dict[str, Any],
    applied: dict[str, Any],
    tv: TypeView,
    managed: dict[ManagerKey, ManagedEntry],
    key: ManagerKey,
    force: bool,
    ignored: FieldSet,
    api_version: str,
) -> Any:
    merged = _merge(live, applied, tv)
    prior = managed.get(key)
    owned = fields_of(applied, tv).recursive_difference(ignored)
    managed[key] = ManagedEntry(owned, api_version, prior.time if prior else None)
    merged = _prune(merged, managed, prior.fields if prior else None, tv)
    update_ownership(live, merged, tv, managed, key, force, ignored)
    return merged


def _gvk(api_version: Any, kind: Any) -> str:
    api = api_version if isinstance(api_version, str) else ""
    group, _, version = api.rpartition("/") if "/" in api else ("", "", api)
    return f"{group}/{version}, Kind={kind if isinstance(kind, str) else ''}"


def _schema_errors(value: Any, tv: TypeView, path: str, errors: list[str]) -> None:
    container = tv.container(value)
    if container == "map" and isinstance(value, dict):
        for name, child in value.items():
            ctv, _, allowed = tv.child(name)
            cpath = f"{path}.{name}"
            if not allowed:
                errors.append(f"{cpath}: field not declared in schema")
            else:
                _schema_errors(child, ctv, cpath, errors)
    elif container == "list" and isinstance(value, list):
        seen: set[PathElement] = set()
        for i, item in enumerate(value):
            pe = tv.item_element(item, i)
            prefix = f"{path}: " if path else ""
            if isinstance(pe, str):
                errors.append(f"{prefix}element {i}: {pe}")
            elif pe in seen:
                errors.append(f"{prefix}duplicate entries for key {pe}")
            else:
                seen.add(pe)
                _schema_errors(item, tv.element(), path + str(pe), errors)


def _check_request(applied: Any, api_version: str, tv: TypeView) -> None:
    if not isinstance(applied, dict):
        raise bad_request("the applied configuration must be an object")
    api, kind = applied.get("apiVersion"), applied.get("kind")
    if not api or not kind or api != api_version:
        raise bad_request(f"invalid object type: {_gvk(api, kind)}")
    meta = applied.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    meta = meta or {}
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    if not meta.get("name") or not isinstance(meta.get("name"), str):
        raise bad_request("metadata.name: Required value: name is required")
    errors: list[str] = []
    _schema_errors(applied, tv, "", errors)
    if errors:
        detail = errors[0] if len(errors) == 1 else "errors:\n  " + "\n  ".join(errors)
        where = f"{meta.get('namespace') or ''}/{meta['name']}; {_gvk(api, kind)}"
        # The real server (1.32) reports these as a bare 500 with no reason.
        raise ApiError(500, "", f"failed to create typed patch object ({where}): {detail}")


def _annotations(obj: Any) -> dict[str, Any] | None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    return ann if isinstance(ann, dict) else None


def _forgiven_by_last_applied(live: dict[str, Any], tv: TypeView) -> FieldSet | None:
    """Fields the client-side-apply annotation set to their current live value."""
    text = (_annotations(live) or {}).get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict):
        return None
    diff = compare(last, live, tv)
    return (
        fields_of(last, tv)
        .difference(diff.modified)
        .difference(diff.added)
        .difference(diff.removed)
    )


def _refresh_last_applied(obj: dict[str, Any], applied: dict[str, Any]) -> None:
    ann = _annotations(obj)
    if ann is None or LAST_APPLIED not in ann:
        return
    body = copy.deepcopy(applied)
    body_ann = _annotations(body)
    if body_ann is not None:
        body_ann.pop(LAST_APPLIED, None)
    ann = obj["metadata"]["annotations"] = dict(ann)
    ann[LAST_APPLIED] = go_json(body) + "\n"
    if sum(len(k.encode()) + len(str(v).encode()) for k, v in ann.items()) > _ANNOTATIONS_LIMIT:
        del ann[LAST_APPLIED]


def server_side_apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    manager: str,
    force: bool,
    schema: SchemaNode | TypeView | None,
    api_version: str,
    now: str,
    subresource: str = "",
    *,
    reset_fields: FieldSet | None = None,
) -> dict[str, Any]:
    """Apply ``applied`` to ``live`` (None: create) as ``manager``; returns the new object
    with its ``managedFields``. Raises :class:`ApplyConflict` (409) or ApiError (400/500).

    ``reset_fields`` defaults to :func:`reset_fields_for` without a status subresource; pass
    ``reset_fields_for("", True)`` on the main endpoint of a kind with a status subresource.
    The inputs are not modified.
    """
    tv = as_type(schema)
    _check_request(applied, api_version, tv)
    config = copy.deepcopy(dict(applied))
    live_obj = copy.deepcopy(dict(live)) if live is not None else {}
    meta = live_obj.get("metadata")
    try:
        managed = decode_managed_fields(
            meta.get("managedFields") if isinstance(meta, dict) else None
        )
    except ValueError as exc:
        raise ApiError(500, "", f"failed to decode managed fields: {exc}") from exc
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    ignored = reset_fields if reset_fields is not None else reset_fields_for(subresource, False)
    key = ManagerKey.of(manager, "Apply", api_version, subresource)

    attempt = {k: ManagedEntry(e.fields, e.api_version, e.time) for k, e in managed.items()}
    try:
        new_obj = _apply_once(live_obj, config, tv, attempt, key, force, ignored, api_version)
    except OwnershipConflict as exc:
        remaining = exc.conflicts
        forgiven = _forgiven_by_last_applied(live_obj, tv) if manager == "kubectl" else None
        if forgiven is not None:
            remaining = {
                k: rest
                for k, fs in exc.conflicts.items()
                if not (rest := fs.difference(forgiven)).empty
            }
        if remaining:
            raise ApplyConflict(remaining) from None
        attempt = {k: ManagedEntry(e.fields, e.api_version, e.time) for k, e in managed.items()}
        new_obj = _apply_once(live_obj, config, tv, attempt, key, True, ignored, api_version)

    changed = not values_equal(live_obj, new_obj)
    if not changed:
        new_obj = live_obj
    strip_meta(attempt)
    if changed and key in attempt:
        attempt[key].time = now
    cap_update_managers(attempt)
    if manager == "kubectl":
        _refresh_last_applied(new_obj, config)
    entries = encode_managed_fields(attempt)
    new_meta = dict(new_obj.get("metadata") or {})
    if entries:
        new_meta["managedFields"] = entries
    else:
        new_meta.pop("managedFields", None)
    new_obj = dict(new_obj)
    new_obj["metadata"] = new_meta
    return new_obj
