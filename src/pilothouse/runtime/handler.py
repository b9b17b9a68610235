"""Event handlers: from an informer's events to reconcile requests on a controller's queue.

* :class:`EnqueueForObject` -- the object itself (``for_``).
* :class:`EnqueueForOwner` -- the object's owner of a given kind, through ownerReferences
  (``owns``); by default only the *controller* reference, like controller-runtime's
  ``OnlyControllerOwner()``. On updates both the old and the new owners are enqueued, so a
  child moved between owners wakes both.
* :class:`EnqueueMapped` -- anything a map function returns (``watches``): "this Secret
  changed, reconcile every App that mounts it".

Each handler applies its predicates first, then puts :class:`~.reconcile.Request` keys on the
queue; the queue deduplicates.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from pilothouse.api import kinds
from pilothouse.runtime import predicate as predicate_mod
from pilothouse.runtime import reconcile

log = logging.getLogger("pilothouse.handler")

Obj = dict[str, Any]
MapFunc = Callable[[Obj], Iterable[reconcile.Request]]


class Queue(Protocol):
    def add(self, key: reconcile.Request) -> None: ...


class _Base(abc.ABC):
    def __init__(self, queue: Queue, predicates: Sequence[predicate_mod.Predicate] = ()) -> None:
        self.queue = queue
        self.predicates = tuple(predicates)

    @abc.abstractmethod
    def requests(self, obj: Obj) -> Iterable[reconcile.Request]:
        """Subclasses say what they enqueue or compare."""

    def _enqueue(self, obj: Obj) -> None:
        for req in self.requests(obj):
            self.queue.add(req)

    def on_add(self, obj: Obj) -> None:
        if all(p.create(obj) for p in self.predicates):
            self._enqueue(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in self.predicates):
            self._enqueue(new)

    def on_delete(self, obj: Obj) -> None:
        if all(p.delete(obj) for p in self.predicates):
            self._enqueue(obj)


class EnqueueForObject(_Base):
    def requests(self, obj: Obj) -> Iterable[reconcile.Request]:
        return (reconcile.Request.for_object(obj),)


class EnqueueForOwner(_Base):
    def __init__(
        self,
        queue: Queue,
        owner: kinds.Kind,
        predicates: Sequence[predicate_mod.Predicate] = (),
        *,
        only_controller: bool = True,
    ) -> None:
        super().__init__(queue, predicates)
        self.owner = owner
        self.only_controller = only_controller

    def requests(self, obj: Obj) -> Iterable[reconcile.Request]:
        meta = obj.get("metadata") or {}
        out = []
        for ref in meta.get("ownerReferences") or ():
            if self.only_controller and not ref.get("controller"):
                continue
            if ref.get("kind") != self.owner.kind:
                continue
            # Versions may differ (an owner referenced as v1beta1); the group must match.
            group = kinds.parse_api_version(str(ref.get("apiVersion", "")))[0]
            if group != self.owner.group:
                continue
            ns = (meta.get("namespace") or "") if self.owner.namespaced else ""
            out.append(reconcile.Request(ns, ref["name"]))
        return out

    def on_update(self, old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in self.predicates):
            reqs = set(self.requests(new)) | set(self.requests(old))
            for req in reqs:
                self.queue.add(req)


class EnqueueMapped(_Base):
    def __init__(
        self,
        queue: Queue,
        mapper: MapFunc,
        predicates: Sequence[predicate_mod.Predicate] = (),
    ) -> None:
        super().__init__(queue, predicates)
        self.mapper = mapper

    def requests(self, obj: Obj) -> Iterable[reconcile.Request]:
        try:
            return list(self.mapper(obj))
        except Exception:
            log.exception("map function failed for %s", reconcile.Request.for_object(obj))
            return ()

    def on_update(self, old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in self.predicates):
            for req in set(self.requests(new)) | set(self.requests(old)):
                self.queue.add(req)
