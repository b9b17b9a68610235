"""Predicates: which events are worth a reconcile.

A predicate sees every create, update and delete an informer reports for a watch and says
yes or no; the handler enqueues only on yes. They are filters for *cost*, never for
correctness: a reconcile must still be correct when called for any reason. Combine them
with :func:`and_`, :func:`or_` and :func:`not_`. Same names and meanings as
controller-runtime's ``pkg/predicate``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Obj = dict[str, Any]


class Predicate(Protocol):
    def create(self, obj: Obj) -> bool: ...

    def update(self, old: Obj, new: Obj) -> bool: ...

    def delete(self, obj: Obj) -> bool: ...


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class _UpdateOnly(abc.ABC):
    """Creates and deletes pass; updates pass when :meth:`changed`."""

    def create(self, obj: Obj) -> bool:
        return True

    def delete(self, obj: Obj) -> bool:
        return True

    def update(self, old: Obj, new: Obj) -> bool:
        return self.changed(old, new)

    @abc.abstractmethod
    def changed(self, old: Obj, new: Obj) -> bool:
        """Subclasses say what they enqueue or compare."""


class GenerationChanged(_UpdateOnly):
    """Updates pass only when ``metadata.generation`` changed: spec edits, not status
    writes. Caveat: kinds without generation (ConfigMaps) never pass an update, and
    label/annotation changes do not bump generation."""

    def changed(self, old: Obj, new: Obj) -> bool:
        return _meta(old).get("generation") != _meta(new).get("generation")


class LabelsChanged(_UpdateOnly):
    def changed(self, old: Obj, new: Obj) -> bool:
        return (_meta(old).get("labels") or {}) != (_meta(new).get("labels") or {})


class AnnotationsChanged(_UpdateOnly):
    def changed(self, old: Obj, new: Obj) -> bool:
        return (_meta(old).get("annotations") or {}) != (_meta(new).get("annotations") or {})


class ResourceVersionChanged(_UpdateOnly):
    """Updates pass unless the resourceVersion is the same (resync/relist echoes)."""

    def changed(self, old: Obj, new: Obj) -> bool:
        return _meta(old).get("resourceVersion") != _meta(new).get("resourceVersion")


@dataclass(frozen=True)
class Funcs:
    """A custom predicate from functions; an absent function lets that event pass."""

    on_create: Callable[[Obj], bool] | None = None
    on_update: Callable[[Obj, Obj], bool] | None = None
    on_delete: Callable[[Obj], bool] | None = None

    def create(self, obj: Obj) -> bool:
        return self.on_create(obj) if self.on_create else True

    def update(self, old: Obj, new: Obj) -> bool:
        return self.on_update(old, new) if self.on_update else True

    def delete(self, obj: Obj) -> bool:
        return self.on_delete(obj) if self.on_delete else True


def matching(fn: Callable[[Obj], bool]) -> Funcs:
    """A predicate on the object itself (the new object for updates)."""
    return Funcs(fn, lambda _old, new: fn(new), fn)


@dataclass(frozen=True)
class _And:
    parts: tuple[Predicate, ...]

    def create(self, obj: Obj) -> bool:
        return all(p.create(obj) for p in self.parts)

    def update(self, old: Obj, new: Obj) -> bool:
        return all(p.update(old, new) for p in self.parts)

    def delete(self, obj: Obj) -> bool:
        return all(p.delete(obj) for p in self.parts)


@dataclass(frozen=True)
class _Or:
    parts: tuple[Predicate, ...]

    def create(self, obj: Obj) -> bool:
        return any(p.create(obj) for p in self.parts)

    def update(self, old: Obj, new: Obj) -> bool:
        return any(p.update(old, new) for p in self.parts)

    def delete(self, obj: Obj) -> bool:
        return any(p.delete(obj) for p in self.parts)


@dataclass(frozen=True)
class _Not:
    part: Predicate

    def create(self, obj: Obj) -> bool:
        return not self.part.create(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return not self.part.update(old, new)

    def delete(self, obj: Obj) -> bool:
        return not self.part.delete(obj)


def and_(*parts: Predicate) -> Predicate:
    return _And(parts)


def or_(*parts: Predicate) -> Predicate:
    return _Or(parts)


def not_(part: Predicate) -> Predicate:
    return _Not(part)
