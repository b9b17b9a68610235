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

This module drives the steps; the value walkers are :mod:`~pilothouse.apiserver.apply.merge`
and :mod:`~pilothouse.apiserver.apply.compare`, ownership transfer is
:mod:`~pilothouse.apiserver.apply.ownership` and the entries' wire format
:mod:`~pilothouse.apiserver.apply.entries`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from pilothouse.apiserver.apply.compare import compare
from pilothouse.apiserver.apply.entries import (
    ManagedEntry,
    ManagerKey,
    cap_update_managers,
    decode_managed_fields,
    encode_managed_fields,
    strip_meta,
)
from pilothouse.apiserver.apply.fieldpath import (
    FieldSet,
    PathElement,
    go_json,
    path_string,
    values_equal,
)
from pilothouse.apiserver.apply.managed import reset_fields_for
from pilothouse.apiserver.apply.merge import merge, remove_items
from pilothouse.apiserver.apply.ownership import OwnershipConflict, update_ownership
from pilothouse.apiserver.apply.typed import (
    TypeView,
    applied_fields,
    as_type,
    ensure_named_fields_are_members,
    fields_of,
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
    applied_set: FieldSet,
) -> Any:
    merged = merge(live, applied, tv)
    prior = managed.get(key)
    owned = applied_set.recursive_difference(ignored)
    managed[key] = ManagedEntry(owned, api_version, prior.time if prior else None)
    merged = _prune(merged, managed, prior.fields if prior else None, tv)
    if any(k != key for k in managed):
        # Without another manager (every create, any object with a single owner) there is
        # nobody to take fields from or report a conflict with: skip the comparison.
        update_ownership(live, merged, tv, managed, key, force, ignored)
    elif managed[key].fields.empty:
        del managed[key]  # as update_ownership drops entries left empty
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
            elif isinstance(child, dict | list):  # nothing to check below a scalar or null
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
                if isinstance(item, dict | list):
                    _schema_errors(item, tv.element(), path + str(pe), errors)


def _check_request(applied: Any, api_version: str, tv: TypeView) -> FieldSet:
    """Refuse a malformed request; returns the fields the applied configuration sets."""
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
    # One walk both checks the schema and collects the field set; only a failing request is
    # walked again, for the messages.
    fields = applied_fields(applied, tv)
    if fields is not None:
        return fields
    errors: list[str] = []
    _schema_errors(applied, tv, "", errors)
    if errors:
        detail = errors[0] if len(errors) == 1 else "errors:\n  " + "\n  ".join(errors)
        where = f"{meta.get('namespace') or ''}/{meta['name']}; {_gvk(api, kind)}"
        # The real server (1.32) reports these as a bare 500 with no reason.
        raise ApiError(500, "", f"failed to create typed patch object ({where}): {detail}")
    return fields_of(applied, tv)  # not reached: applied_fields fails only with errors


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


def _copy(value: Any) -> Any:
    """A deep copy of decoded JSON: several times cheaper than :func:`copy.deepcopy`, which
    dispatches per value and keeps a memo that acyclic request/store data never needs.
    Anything that is not plain JSON still goes through :func:`copy.deepcopy`."""
    t = type(value)
    if t is dict:
        return {k: _copy(v) for k, v in value.items()}
    if t is list:
        return [_copy(v) for v in value]
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    return copy.deepcopy(value)


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
    consume: bool = False,
) -> dict[str, Any]:
    """Apply ``applied`` to ``live`` (None: create) as ``manager``; returns the new object
    with its ``managedFields``. Raises :class:`ApplyConflict` (409) or ApiError (400/500).

    ``reset_fields`` defaults to :func:`reset_fields_for` without a status subresource; pass
    ``reset_fields_for("", True)`` on the main endpoint of a kind with a status subresource.
    The inputs are not modified, unless ``consume``: then the caller hands ``live`` and
    ``applied`` over -- they may be changed and the result may share their parts -- which
    spares copying them (a sizeable share of a create's CPU).
    """
    tv = as_type(schema)
    applied_set = _check_request(applied, api_version, tv)
    config = dict(applied) if consume else _copy(dict(applied))
    if live is None:
        live_obj: dict[str, Any] = {}
    else:
        live_obj = dict(live) if consume else _copy(dict(live))
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
        new_obj = _apply_once(
            live_obj, config, tv, attempt, key, force, ignored, api_version, applied_set
        )
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
        new_obj = _apply_once(
            live_obj, config, tv, attempt, key, True, ignored, api_version, applied_set
        )

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
