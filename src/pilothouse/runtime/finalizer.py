"""Finalizers: run cleanup before an object goes away, exactly like kube-rs's ``finalizer``.

:func:`finalize` wraps a reconciler's two halves -- ``apply`` (make the world match the
object) and ``cleanup`` (undo what apply did, outside the object's own garbage-collected
dependents) -- and manages a finalizer on the object so that cleanup gets its chance:

1. The object is **not being deleted** and lacks our finalizer: add it, then call ``apply``
   with the patched object. The finalizer is in place *before* apply creates anything, so
   nothing apply creates can escape cleanup.
2. The object is **not being deleted** and has our finalizer: call ``apply``.
3. The object **is being deleted** (``metadata.deletionTimestamp`` set) and has our
   finalizer: call ``cleanup``; only when it returns, remove the finalizer. The API server
   deletes the object once its last finalizer is gone.
4. The object is being deleted and does **not** have our finalizer: do nothing (return
   None). Either cleanup already ran and removed it, or we never added it.

Guarantees:

* **Cleanup runs before the object is gone**, provided the finalizer was added: the server
  keeps a terminating object for as long as any finalizer remains.
* **Cleanup is retried until it succeeds.** Exceptions from ``apply`` and ``cleanup``
  propagate unchanged, so the controller requeues the object with backoff and the next
  pass calls cleanup again (the finalizer is still there). Cleanup must therefore be
  idempotent.
* **Cleanup must cope with apply never having run** (or having run partially): the object
  may be deleted right after the finalizer was added, before apply got anywhere, or apply
  may have failed halfway. "Nothing to delete" is success.
* **Concurrent writers do not lose each other's finalizers.** Both patches are JSON patches
  guarded by a ``test`` operation: adding tests that ``metadata.finalizers`` is still the
  list we read (null when there was none) and appends; removing tests that our name is
  still at the index we read it from. If another party changed the list in between, the
  server rejects the patch and :class:`FinalizerPatchError` is raised -- the controller
  requeues and the next pass works from a fresh read. No read-modify-write of the whole
  list ever replaces someone else's entry.

Caveats:

* Objects deleted *before* the finalizer was added (between creation and our first
  reconcile) get no cleanup: there is nothing to hold them back.
* A finalizer blocks deletion **forever** if the controller is uninstalled (or stops
  reconciling this kind) while objects still carry it. Uninstall operators after their
  objects, or remove the finalizer by hand (``kubectl patch --type=json``).
* Names must be domain-qualified (``example.com/cleanup``): unqualified names are reserved
  for Kubernetes' own finalizers, and built-in groups reject unknown ones.
* Do not remove the finalizer anywhere else; one owner per finalizer name.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from pilothouse.api.kinds import Kind
from pilothouse.api.validation import is_qualified_name
from pilothouse.client import errors, typed

__all__ = [
    "FinalizerError",
    "FinalizerPatchError",
    "add_finalizer",
    "finalize",
    "has_finalizer",
    "is_deleting",
    "remove_finalizer",
    "validate_finalizer_name",
]

log = logging.getLogger(__name__)

R = TypeVar("R")


class _PatchClient(Protocol):
    async def patch(
        self,
        kind: Any,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: Any = "merge",
    ) -> Any: ...


class FinalizerError(Exception):
    """Something went wrong managing the finalizer itself (not in apply or cleanup)."""


class FinalizerPatchError(FinalizerError):
    """Adding or removing the finalizer failed; usually because the object changed under us
    (the ``test`` operation failed). Retry from a fresh read. The API error is the cause."""


def validate_finalizer_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a domain-qualified finalizer name."""
    problems = is_qualified_name(name)
    prefix, slash, _ = name.partition("/")
    if not slash or "." not in prefix:
        problems.append("must be domain-qualified, e.g. 'example.com/cleanup'")
    if problems:
        raise ValueError(f"invalid finalizer name {name!r}: {'; '.join(problems)}")


def _finalizers(obj: Mapping[str, Any]) -> list[str] | None:
    value = (obj.get("metadata") or {}).get("finalizers")
    return value if isinstance(value, list) else None


def is_deleting(obj: Any) -> bool:
    """Whether the object is terminating (``metadata.deletionTimestamp`` is set)."""
    return bool((typed.encode(obj).get("metadata") or {}).get("deletionTimestamp"))


def has_finalizer(obj: Any, name: str) -> bool:
    """Whether ``obj`` carries finalizer ``name``."""
    return name in (_finalizers(typed.encode(obj)) or ())


def add_finalizer(obj: dict[str, Any], name: str) -> bool:
    """Add ``name`` to ``obj`` in place (for objects about to be created or applied); True if
    it was added. Use :func:`finalize` to add to an existing object safely."""
    meta = obj.setdefault("metadata", {})
    current = meta.get("finalizers")
    if isinstance(current, list) and name in current:
        return False
    meta["finalizers"] = [*(current if isinstance(current, list) else []), name]
    return True


def remove_finalizer(obj: dict[str, Any], name: str) -> bool:
    """Remove ``name`` from ``obj`` in place; True if it was there."""
    meta = obj.get("metadata") or {}
    current = meta.get("finalizers")
    if not isinstance(current, list) or name not in current:
        return False
    meta["finalizers"] = [f for f in current if f != name]
    return True


def _where(obj: Mapping[str, Any]) -> tuple[str, str | None]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise FinalizerError("the object has no metadata.name")
    namespace = meta.get("namespace")
    return name, namespace if isinstance(namespace, str) and namespace else None


async def _patch(
    client: _PatchClient, kind: Kind, obj: Mapping[str, Any], ops: list[dict[str, Any]], what: str
) -> dict[str, Any] | None:
    """Apply the guarded JSON patch; None if the object no longer exists."""
    name, namespace = _where(obj)
    try:
        result: dict[str, Any] = await client.patch(
            kind, name, ops, namespace=namespace, patch_type="json"
        )
    except errors.NotFound:
        return None
    except errors.ApiError as exc:
        where = f"{namespace}/{name}" if namespace else name
        raise FinalizerPatchError(
            f"{what} {kind} {where} failed ({exc}); the object probably changed concurrently"
        ) from exc
    return result


async def finalize(
    client: _PatchClient,
    kind: Kind,
    obj: Any,
    finalizer_name: str,
    apply: Callable[[dict[str, Any]], Awaitable[R]],
    cleanup: Callable[[dict[str, Any]], Awaitable[R]],
) -> R | None:
    """Run ``apply`` or ``cleanup`` for ``obj`` under finalizer ``finalizer_name`` (see the
    module docstring for the four cases and the guarantees).

    Returns what ``apply`` or ``cleanup`` returned, or None when there was nothing to do
    (being deleted without our finalizer, or the object vanished while we patched it).
    Raises ValueError for an invalid name, :class:`FinalizerPatchError` when the finalizer
    could not be added or removed, and whatever ``apply``/``cleanup`` raise.
    """
    validate_finalizer_name(finalizer_name)
    current = typed.encode(obj)
    finalizers = _finalizers(current)
    present = finalizers is not None and finalizer_name in finalizers

    if is_deleting(current):
        if not present:
            return None
        assert finalizers is not None
        result = await cleanup(current)
        index = finalizers.index(finalizer_name)
        path = f"/metadata/finalizers/{index}"
        removal: list[dict[str, Any]] = [
            {"op": "test", "path": path, "value": finalizer_name},
            {"op": "remove", "path": path},
        ]
        await _patch(client, kind, current, removal, f"removing finalizer {finalizer_name} from")
        return result

    if not present:
        ops: list[dict[str, Any]]
        if finalizers is None:
            # A missing member reads as null for ``test``: passes only if still absent.
            ops = [
                {"op": "test", "path": "/metadata/finalizers", "value": None},
                {"op": "add", "path": "/metadata/finalizers", "value": [finalizer_name]},
            ]
        else:
            ops = [
                {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
                {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer_name},
            ]
        patched = await _patch(client, kind, current, ops, f"adding finalizer {finalizer_name} to")
        if patched is None:
            log.debug("object vanished before finalizer %s was added", finalizer_name)
            return None
        if is_deleting(patched):
            # Deleted between our read and the patch: the finalizer now holds it back, and
            # the next pass (the patch caused a watch event) runs cleanup rather than apply.
            return None
        current = patched
    return await apply(current)
