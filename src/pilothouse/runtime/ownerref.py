"""Owner references: who owns an object, and which owner is its controller.

A port of controller-runtime's ``controllerutil.SetControllerReference`` /
``SetOwnerReference`` / ``RemoveOwnerReference`` and apimachinery's ``metav1.GetControllerOf``
/ ``IsControlledBy``, over plain object dicts (the Kubernetes JSON form).

What an owner reference buys you:

* **garbage collection** -- when the owner is deleted, the API server's garbage collector
  deletes the dependents (in the background, or before the owner with
  ``propagationPolicy=Foreground``, where ``blockOwnerDeletion`` makes the owner wait);
* **watches** -- a controller that watches the objects it creates maps each event back to the
  owner it must reconcile through the *controller* reference (``controller: true``); at most
  one owner reference of an object may be the controller.

Guarantees and rules (the same as controller-runtime's):

* At most one controller: :func:`set_controller_reference` raises :class:`AlreadyOwnedError` if
  another object (by API group, kind and name) already controls ``obj``; setting the same
  controller again is idempotent and refreshes the reference (e.g. a new ``uid`` after the
  owner was recreated).
* Scope: a namespaced owner may only own objects in its own namespace; a cluster-scoped owner
  may own anything. Namespaced owners of cluster-scoped objects and cross-namespace owners are
  rejected with :class:`OwnerReferenceError` -- the garbage collector would treat such a
  reference as pointing to a missing owner and delete the dependent.
* References are matched by API *group* (not version), kind and name, so upgrading an owner
  from ``v1beta1`` to ``v1`` updates its reference rather than adding a second one.

Design choices:

* Functions mutate ``obj`` in place (and return it, for chaining) because the caller is about
  to send that dict to the server; owners may also be pydantic models exposing
  ``to_object()``.
* The owner must carry ``apiVersion``, ``kind``, ``metadata.name`` and ``metadata.uid``: a
  reference without a uid is rejected by the server, so it is better to fail here, before a
  round trip, with a message naming what is missing. An owner only has a uid once it was read
  from (or created on) the server.
* :func:`set_owner_reference` keeps the ``controller``/``blockOwnerDeletion`` flags of an
  existing reference to the same owner (controller-runtime overwrites them), so adding a
  plain owner reference can never silently demote an existing controller reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pilothouse.api.kinds import parse_api_version
from pilothouse.client import typed

__all__ = [
    "AlreadyOwnedError",
    "OwnerReferenceError",
    "controller_of",
    "controller_reference",
    "has_owner_reference",
    "is_controlled_by",
    "owner_reference",
    "remove_owner_reference",
    "set_controller_reference",
    "set_owner_reference",
]


class _ToObject(Protocol):
    def to_object(self) -> dict[str, Any]: ...


Obj = Mapping[str, Any] | _ToObject


class OwnerReferenceError(ValueError):
    """An owner reference that must not be set (scope rules, or an incomplete owner)."""


class AlreadyOwnedError(OwnerReferenceError):
    """``obj`` is already controlled by another owner (controller-runtime's error of the
    same name); ``owner`` is the existing controller reference."""

    def __init__(self, obj: Mapping[str, Any], owner: Mapping[str, Any]) -> None:
        self.object = obj
        self.owner = dict(owner)
        meta = _meta(obj)
        where = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
        super().__init__(
            f"Object {where} is already owned by another "
            f"{owner.get('kind')} controller {owner.get('name')}"
        )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _refs(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = _meta(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def _same_object(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """controller-runtime's ``referSameObject``: group, kind and name (version and uid may
    differ: the owner may have been upgraded or recreated)."""
    a_group = parse_api_version(str(a.get("apiVersion", "")))[0]
    b_group = parse_api_version(str(b.get("apiVersion", "")))[0]
    return a_group == b_group and a.get("kind") == b.get("kind") and a.get("name") == b.get("name")


def owner_reference(owner: Obj) -> dict[str, Any]:
    """A plain (non-controller) owner reference to ``owner``."""
    o = typed.encode(owner)
    meta = _meta(o)
    missing = [
        field
        for field, value in (
            ("apiVersion", o.get("apiVersion")),
            ("kind", o.get("kind")),
            ("metadata.name", meta.get("name")),
            ("metadata.uid", meta.get("uid")),
        )
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise OwnerReferenceError(
            f"owner has no {', '.join(missing)} (an owner must be read from or created on "
            "the server before it can be referenced)"
        )
    return {
        "apiVersion": o["apiVersion"],
        "kind": o["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
    }


def controller_reference(owner: Obj, *, block_owner_deletion: bool = True) -> dict[str, Any]:
    """A controller owner reference to ``owner`` (``controller: true``)."""
    ref = owner_reference(owner)
    ref["controller"] = True
    ref["blockOwnerDeletion"] = block_owner_deletion
    return ref


def _validate_scope(owner: Mapping[str, Any], obj: Mapping[str, Any]) -> None:
    owner_ns = _meta(owner).get("namespace") or ""
    if not owner_ns:
        return  # cluster-scoped owners may own anything
    obj_ns = _meta(obj).get("namespace") or ""
    if not obj_ns:
        raise OwnerReferenceError(
            "cluster-scoped resource must not have a namespace-scoped owner, "
            f"owner's namespace {owner_ns}"
        )
    if obj_ns != owner_ns:
        raise OwnerReferenceError(
            "cross-namespace owner references are disallowed, "
            f"owner's namespace {owner_ns}, obj's namespace {obj_ns}"
        )


def _writable_refs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    meta = obj.setdefault("metadata", {})
    refs = meta.get("ownerReferences")
    if isinstance(refs, list):
        return refs
    fresh: list[dict[str, Any]] = []
    meta["ownerReferences"] = fresh
    return fresh


def _upsert(obj: dict[str, Any], ref: dict[str, Any]) -> None:
    refs = _writable_refs(obj)
    for i, existing in enumerate(refs):
        if isinstance(existing, Mapping) and _same_object(existing, ref):
            refs[i] = ref
            return
    refs.append(ref)


def set_controller_reference(
    owner: Obj, obj: dict[str, Any], *, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """Make ``owner`` the controller of ``obj`` (in place; returns ``obj``).

    Raises :class:`AlreadyOwnedError` if another object controls ``obj`` and
    :class:`OwnerReferenceError` if the scope rules forbid the reference.
    """
    o = typed.encode(owner)
    _validate_scope(o, obj)
    ref = controller_reference(o, block_owner_deletion=block_owner_deletion)
    existing = controller_of(obj)
    if existing is not None and not _same_object(existing, ref):
        raise AlreadyOwnedError(obj, existing)
    _upsert(obj, ref)
    return obj


def set_owner_reference(owner: Obj, obj: dict[str, Any]) -> dict[str, Any]:
    """Add (or refresh) a non-controller owner reference to ``owner`` on ``obj``."""
    o = typed.encode(owner)
    _validate_scope(o, obj)
    ref = owner_reference(o)
    for existing in _refs(obj):
        if _same_object(existing, ref):
            # Keep the flags: a plain reference must not demote an existing controller one.
            for flag in ("controller", "blockOwnerDeletion"):
                if flag in existing:
                    ref[flag] = existing[flag]
    _upsert(obj, ref)
    return obj


def remove_owner_reference(owner: Obj, obj: dict[str, Any]) -> bool:
    """Remove every reference to ``owner`` from ``obj``; True if one was removed.

    (controller-runtime raises when there is none; removing is usually part of a "make it so"
    step, where "already absent" is success, so here it is a return value.)
    """
    o = typed.encode(owner)
    target = {
        "apiVersion": o.get("apiVersion", ""),
        "kind": o.get("kind"),
        "name": _meta(o).get("name"),
    }
    refs = _refs(obj)
    kept = [r for r in refs if not _same_object(r, target)]
    if len(kept) == len(refs):
        return False
    meta = obj["metadata"]
    if kept:
        meta["ownerReferences"] = kept
    else:
        meta.pop("ownerReferences", None)
    return True


def has_owner_reference(obj: Obj, owner: Obj) -> bool:
    """Whether ``obj`` has any owner reference to ``owner`` (matched by uid)."""
    uid = _meta(typed.encode(owner)).get("uid")
    return bool(uid) and any(r.get("uid") == uid for r in _refs(typed.encode(obj)))


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The controller reference of ``obj`` (``metav1.GetControllerOf``), or None."""
    for ref in _refs(typed.encode(obj)):
        if ref.get("controller") is True:
            return ref
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether ``owner`` is the controller of ``obj`` (``metav1.IsControlledBy``: by uid)."""
    ref = controller_of(obj)
    uid = _meta(typed.encode(owner)).get("uid")
    return ref is not None and bool(uid) and ref.get("uid") == uid
