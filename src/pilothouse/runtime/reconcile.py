"""The reconcile contract: :class:`Request` in, :class:`Result` out.

A reconciler is told *which* object to look at, never *what happened* to it: it reads the
current state (usually from the cache), makes the world match the object's spec, writes
status, and returns. Because it is level-triggered, a missed or merged notification is
harmless -- the next reconcile of the key sees the latest state anyway. This is
controller-runtime's ``reconcile.Reconciler``.

How the controller treats the outcome:

* return ``Result()`` (or None): done; the key's backoff is reset;
* ``Result(requeue_after=s)``: reconcile again after ``s`` seconds (backoff reset);
* ``Result(requeue=True)``: reconcile again with the key's exponential backoff;
* raise :class:`TerminalError`: logged, counted, recorded -- and *not* retried until the
  object changes (a spec that can never work should not spin);
* raise anything else: retried with exponential backoff (5 ms doubling to 1000 s).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True, order=True)
class Request:
    """The object to reconcile: its namespace ("" when cluster-scoped) and name."""

    namespace: str
    name: str

    @classmethod
    def for_object(cls, obj: dict[str, Any]) -> Request:
        meta = obj.get("metadata") or {}
        return cls(meta.get("namespace") or "", meta["name"])

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Result:
    requeue: bool = False
    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError("requeue_after must not be negative")


class TerminalError(Exception):
    """A failure retrying cannot fix (invalid spec, missing prerequisite the user must
    create). The controller records it and waits for the object to change."""


@runtime_checkable
class Reconciler(Protocol):
    async def reconcile(self, request: Request) -> Result | None: ...


ReconcileFunc = Callable[[Request], Awaitable[Result | None]]


class _FuncReconciler:
    def __init__(self, fn: ReconcileFunc) -> None:
        self._fn = fn
        self.__name__ = getattr(fn, "__name__", "reconcile")

    async def reconcile(self, request: Request) -> Result | None:
        return await self._fn(request)


def as_reconciler(target: Reconciler | ReconcileFunc) -> Reconciler:
    """Accept a reconciler object or a plain ``async def reconcile(request)`` function."""
    if isinstance(target, Reconciler):
        return target
    if inspect.iscoroutinefunction(target):
        return _FuncReconciler(target)
    raise TypeError(f"{target!r} is neither an async function nor an object with async reconcile()")
