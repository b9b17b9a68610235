"""The controller builder: declare what a controller watches, then hand it a reconciler.

::

    builder.ControllerBuilder(mgr)
        .for_(App, predicate.GenerationChanged())
        .owns(kinds.DEPLOYMENT)
        .owns(kinds.SERVICE)
        .watches(kinds.SECRET, apps_mounting_secret)
        .with_options(max_concurrent_reconciles=4, reconcile_timeout=60)
        .complete(reconcile_app)

* ``for_`` -- the kind the controller reconciles; its events enqueue the object itself.
* ``owns`` -- children: their events enqueue the owner named by their *controller*
  ownerReference (set with :func:`pilothouse.runtime.ownerref.set_controller_reference`).
* ``watches`` -- anything else, through a map function from object to requests.

Every watched kind is read through the manager's shared cache: a kind watched by several
controllers is listed and watched once. The controller's name defaults to the lowercased
kind of ``for_``, as controller-runtime names it; names must be unique in a manager (they
label metrics and logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pilothouse.api import kinds
from pilothouse.client import typed
from pilothouse.runtime import controller as controller_mod
from pilothouse.runtime import handler as handler_mod
from pilothouse.runtime import predicate as predicate_mod
from pilothouse.runtime import ratelimit as ratelimit_mod
from pilothouse.runtime import reconcile

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod


class BuilderError(ValueError):
    pass


def _kind(target: Any) -> kinds.Kind:
    try:
        return typed.require_kind(target)
    except typed.NotAKind as exc:
        raise BuilderError(str(exc)) from None


class ControllerBuilder:
    def __init__(self, manager: manager_mod.Manager) -> None:
        self._manager = manager
        self._name: str | None = None
        self._for: tuple[kinds.Kind, tuple[predicate_mod.Predicate, ...]] | None = None
        self._owns: list[tuple[kinds.Kind, tuple[predicate_mod.Predicate, ...], bool]] = []
        self._watches: list[
            tuple[kinds.Kind, handler_mod.MapFunc, tuple[predicate_mod.Predicate, ...]]
        ] = []
        self._global: list[predicate_mod.Predicate] = []
        self._max_concurrent = 1
        self._timeout: float | None = None
        self._rate_limiter: ratelimit_mod.RateLimiter[reconcile.Request] | None = None

    def named(self, name: str) -> ControllerBuilder:
        self._name = name
        return self

    def for_(self, kind: Any, *predicates: predicate_mod.Predicate) -> ControllerBuilder:
        if self._for is not None:
            raise BuilderError("for_() may be called only once")
        self._for = (_kind(kind), predicates)
        return self

    def owns(
        self, kind: Any, *predicates: predicate_mod.Predicate, only_controller: bool = True
    ) -> ControllerBuilder:
        self._owns.append((_kind(kind), predicates, only_controller))
        return self

    def watches(
        self, kind: Any, mapper: handler_mod.MapFunc, *predicates: predicate_mod.Predicate
    ) -> ControllerBuilder:
        self._watches.append((_kind(kind), mapper, predicates))
        return self

    def with_event_filter(self, *predicates: predicate_mod.Predicate) -> ControllerBuilder:
        """Predicates applied to every watch of this controller."""
        self._global.extend(predicates)
        return self

    def with_options(
        self,
        *,
        max_concurrent_reconciles: int | None = None,
        reconcile_timeout: float | None = None,
        rate_limiter: ratelimit_mod.RateLimiter[reconcile.Request] | None = None,
    ) -> ControllerBuilder:
        if max_concurrent_reconciles is not None:
            self._max_concurrent = max_concurrent_reconciles
        if reconcile_timeout is not None:
            self._timeout = reconcile_timeout
        if rate_limiter is not None:
            self._rate_limiter = rate_limiter
        return self

    def complete(
        self, reconciler: reconcile.Reconciler | reconcile.ReconcileFunc
    ) -> controller_mod.Controller:
        """Build the controller and register it with the manager."""
        if self._for is None:
            raise BuilderError("a controller needs for_(kind)")
        for_kind, for_preds = self._for
        mgr = self._manager
        ctrl = controller_mod.Controller(
            self._name or for_kind.kind.lower(),
            reconciler,
            kind=for_kind.kind,
            max_concurrent_reconciles=self._max_concurrent,
            reconcile_timeout=self._timeout,
            rate_limiter=self._rate_limiter,
            metrics=mgr.metrics,
            clock=mgr.clock,
            on_terminal_error=mgr.terminal_error_hook(for_kind),
        )
        g = tuple(self._global)
        ctrl.watch(
            mgr.cache.informer(for_kind), handler_mod.EnqueueForObject(ctrl.queue, g + for_preds)
        )
        for kind, preds, only_controller in self._owns:
            ctrl.watch(
                mgr.cache.informer(kind),
                handler_mod.EnqueueForOwner(
                    ctrl.queue, for_kind, g + preds, only_controller=only_controller
                ),
            )
        for kind, mapper, preds in self._watches:
            ctrl.watch(
                mgr.cache.informer(kind), handler_mod.EnqueueMapped(ctrl.queue, mapper, g + preds)
            )
        mgr.add_controller(ctrl)
        return ctrl
