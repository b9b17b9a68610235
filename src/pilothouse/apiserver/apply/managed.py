"""``metadata.managedFields`` of non-apply writes, as kube-apiserver's field manager keeps them.

The real pipeline (``k8s.io/apimachinery/pkg/util/managedfields/internal``) is a chain of
managers; :func:`record_update` reproduces it for create, update and patch, in order of
effect:

* decoding: a write carrying ``managedFields: []`` or ``[{}]`` resets them; one carrying
  none, or undecodable ones, keeps the live object's; subresource writes always keep the
  live ones (entries themselves: :mod:`~pilothouse.apiserver.apply.entries`);
* skip-non-applied: an update (not a create) of an object that has no managed fields is not
  tracked, so a reset stays a reset until the next apply;
* ownership (:mod:`~pilothouse.apiserver.apply.ownership`): fields that a write adds or
  modifies are taken from every other manager, fields it removes are dropped from everyone;
  the write then owns what it changed, merged into that manager's previous entry, stamped
  with ``now``;
* reset fields: the fields a strategy wipes on an endpoint (``status`` on the main resource
  of a kind with a status subresource, ``spec`` on ``/status``) are neither owned nor able to
  conflict there (:func:`reset_fields_for`);
* strip-meta, capping and encoding, as :mod:`~pilothouse.apiserver.apply.entries` does them.

A create with no managed fields to start from skips the comparison machinery: the writer
simply owns everything the new object sets (as a comparison against nothing reports it).
:func:`default_manager` names the manager of a write without ``fieldManager``.

Not reproduced: conversion of entries recorded at another apiVersion (they are compared
as if recorded at the request's version) and schema-change reconciliation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pilothouse.apiserver import schemas
from pilothouse.apiserver.apply.compare import compare
from pilothouse.apiserver.apply.entries import (
    STRIP_SET,
    Managed,
    ManagedEntry,
    ManagerKey,
    cap_update_managers,
    decode_managed_fields,
    encode_managed_fields,
    field_path,
    strip_meta,
)
from pilothouse.apiserver.apply.fieldpath import FieldSet
from pilothouse.apiserver.apply.ownership import update_ownership
from pilothouse.apiserver.apply.typed import MISSING, TypeView, as_type
from pilothouse.apiserver.schemas import SchemaNode

#: Longest manager name the server accepts (``FieldManagerMaxLength``).
FIELD_MANAGER_MAX_LENGTH: Final = 128


def reset_fields_for(subresource: str, has_status_subresource: bool) -> FieldSet:
    """The fields an endpoint's strategy resets (``GetResetFields``) for the common case:
    ``status`` on the main resource when a status subresource exists, ``spec`` on it."""
    if subresource == "status":
        return FieldSet.from_paths([field_path("spec")])
    if not subresource and has_status_subresource:
        return FieldSet.from_paths([field_path("status")])
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
    new = without_managed_fields(new_obj)
    if old_obj is None and not managed:
        key = ManagerKey.of(manager, "Update", api_version, subresource)
        return _record_create(new, tv, key, api_version, now, ignored)
    old = without_managed_fields(old_obj) if old_obj is not None else {}
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


def _record_create(
    new: dict[str, Any],
    tv: TypeView,
    key: ManagerKey,
    api_version: str,
    now: str,
    ignored: FieldSet,
) -> list[dict[str, Any]]:
    """A create with no entries to take ownership from: the writer owns every field the new
    object sets -- all that comparing it with an empty object adds -- bar the reset and the
    never-owned metadata fields (the full pipeline reduced to what it does in that case)."""
    fields = compare({}, new, tv).added.recursive_difference(ignored).difference(STRIP_SET)
    if fields.empty:
        return []
    return encode_managed_fields({key: ManagedEntry(fields, api_version, now)})
