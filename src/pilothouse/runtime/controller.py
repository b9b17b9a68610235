"""A controller: a work queue of :class:`~.reconcile.Request` keys, fed by event handlers on
shared informers, drained by ``max_concurrent_reconciles`` workers that call a reconciler.

Guarantees (controller-runtime's):

* a key is never reconciled by two workers at once (the queue hands a key to one worker
  and re-queues it if it changes meanwhile);
* notifications for a key that arrive while it waits are merged into one reconcile;
* failures back off per key exponentially (5 ms doubling to 1000 s) under an overall token
  bucket (10/s, burst 100); success resets the key's backoff;
* :class:`~.reconcile.TerminalError` is recorded and not retried until the object changes;
* a reconcile that exceeds ``reconcile_timeout`` is cancelled and counts as an error;
* workers start only after every informer this controller watches has synced, so the first
  reconcile already sees a complete cache.

Stopping: :meth:`Controller.stop` drains (no new keys; in-flight reconciles finish, up to a
grace period, then are cancelled). :meth:`Controller.halt` stops *at once* -- used when
leadership is lost, where a reconcile that carries on could fight the new leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from pilothouse.runtime import clock as clock_mod
from pilothouse.runtime import informer as informer_mod
from pilothouse.runtime import logs, reconcile, workqueue
from pilothouse.runtime import metrics as metrics_mod
from pilothouse.runtime import ratelimit as ratelimit_mod

log = logging.getLogger("pilothouse.controller")


class ReconcileTimeout(Exception):
    """A reconcile ran past the controller's ``reconcile_timeout`` and was cancelled."""


class CacheSyncTimeout(RuntimeError):
    """A controller's informers did not finish their first list in time."""


#: Told of terminal errors: (request, error). The manager records a Warning event.
TerminalHook = Callable[[reconcile.Request, BaseException], None]


class Controller:
    def __init__(
        self,
        name: str,
        reconciler: reconcile.Reconciler | reconcile.ReconcileFunc,
        *,
        kind: str = "",
        max_concurrent_reconciles: int = 1,
        reconcile_timeout: float | None = None,
        rate_limiter: ratelimit_mod.RateLimiter[reconcile.Request] | None = None,
        metrics: metrics_mod.RuntimeMetrics | None = None,
        clock: clock_mod.Clock | None = None,
        on_terminal_error: TerminalHook | None = None,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        if reconcile_timeout is not None and reconcile_timeout <= 0:
            raise ValueError("reconcile_timeout must be positive")
        self.name = name
        self.kind = kind
        self.reconciler = reconcile.as_reconciler(reconciler)
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self.metrics = metrics
        self.on_terminal_error = on_terminal_error
        self.queue: workqueue.RateLimitingQueue[reconcile.Request] = workqueue.RateLimitingQueue(
            rate_limiter, name=name, clock=clock, metrics=metrics
        )
        self._sources: list[tuple[informer_mod.Informer, informer_mod.EventHandler]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._halted = False
        self._started = False
        if metrics is not None:
            metrics.init_controller(name, max_concurrent_reconciles)

    def __repr__(self) -> str:
        return f"<Controller {self.name}>"

    def watch(self, source: informer_mod.Informer, handler: informer_mod.EventHandler) -> None:
        """Feed ``handler`` from ``source`` once the controller starts."""
        self._sources.append((source, handler))
        if self._started:
            source.add_handler(handler)

    @property
    def sources(self) -> list[informer_mod.Informer]:
        return [s for s, _ in self._sources]

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, sync_timeout: float | None = None) -> None:
        """Register handlers, wait for the informers to sync, start the workers."""
        if self._started:
            return
        self._started = True
        for source, handler in self._sources:
            source.add_handler(handler)
        try:
            async with asyncio.timeout(sync_timeout):
                await asyncio.gather(*(s.wait_synced() for s, _ in self._sources))
        except TimeoutError:
            pending = ", ".join(str(s.kind) for s, _ in self._sources if not s.has_synced)
            raise CacheSyncTimeout(
                f"controller {self.name}: informers for {pending} did not sync within "
                f"{sync_timeout}s (is the CRD installed? may we list and watch it?)"
            ) from None
        self._workers = [
            asyncio.create_task(self._worker(), name=f"{self.name} worker {i}")
            for i in range(self.max_concurrent_reconciles)
        ]
        log.info(
            "controller started",
            extra={"controller": self.name, "workers": self.max_concurrent_reconciles},
        )

    async def stop(self, grace: float = 30.0) -> None:
        """Stop taking keys; let in-flight reconciles finish within ``grace`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.queue.shutdown_with_drain()
        self.queue.shutdown()
        await self._cancel_workers()

    def halt_now(self) -> None:
        """Stop now, synchronously: no reconcile starts after this returns, and in-flight
        ones are cancelled (they see CancelledError at their next await)."""
        self._halted = True
        self.queue.shutdown()
        for task in list(self._inflight):
            task.cancel()

    async def halt(self) -> None:
        """:meth:`halt_now`, then wait for the workers to end."""
        self.halt_now()
        await self._cancel_workers()

    async def _cancel_workers(self) -> None:
        workers, self._workers = self._workers, []
        for w in workers:
            w.cancel()
        for w in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await w

    # -- work ------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            try:
                req = await self.queue.get()
            except workqueue.ShutDown:
                return
            try:
                if not self._halted:
                    await self._process(req)
            finally:
                self.queue.done(req)

    async def _process(self, req: reconcile.Request) -> None:
        rid = uuid.uuid4().hex[:12]
        token = logs.context.set(
            {
                "controller": self.name,
                "kind": self.kind,
                "namespace": req.namespace,
                "name": req.name,
                "reconcileID": rid,
            }
        )
        m = self.metrics
        if m is not None:
            m.active_workers.labels(self.name).inc()
        start = time.perf_counter()
        outcome = "error"
        try:
            task = asyncio.ensure_future(self._call(req))
            self._inflight.add(task)
            try:
                result = await task
            finally:
                self._inflight.discard(task)
            outcome = self._handle_result(req, result)
        except asyncio.CancelledError:
            if self._halted:
                outcome = "error"
                return
            raise
        except reconcile.TerminalError as exc:
            outcome = "error"
            self.queue.forget(req)
            if m is not None:
                m.terminal_reconcile_errors_total.labels(self.name).inc()
            log.error("reconcile failed permanently: %s", exc, exc_info=exc)
            if self.on_terminal_error is not None:
                self.on_terminal_error(req, exc)
        except ReconcileTimeout as exc:
            outcome = "error"
            self.queue.add_rate_limited(req)
            log.error("%s; cancelled", exc)
        except Exception as exc:
            outcome = "error"
            self.queue.add_rate_limited(req)
            log.error(
                "reconcile failed (retry %d): %s",
                self.queue.num_requeues(req),
                exc,
                exc_info=exc,
            )
        finally:
            if m is not None:
                m.active_workers.labels(self.name).dec()
                m.observe_reconcile(self.name, outcome, time.perf_counter() - start)
            logs.context.reset(token)

    async def _call(self, req: reconcile.Request) -> reconcile.Result | None:
        if self.reconcile_timeout is None:
            return await self.reconciler.reconcile(req)
        try:
            async with asyncio.timeout(self.reconcile_timeout) as deadline:
                return await self.reconciler.reconcile(req)
        except TimeoutError:
            # Only our deadline is a reconcile timeout; a TimeoutError the reconciler
            # raised itself (a slow dependency) is an ordinary failure.
            if deadline.expired():
                raise ReconcileTimeout(
                    f"reconcile exceeded its {self.reconcile_timeout}s timeout"
                ) from None
            raise

    def _handle_result(self, req: reconcile.Request, result: reconcile.Result | None) -> str:
        if result is None or (not result.requeue and result.requeue_after is None):
            self.queue.forget(req)
            return "success"
        if result.requeue_after is not None and result.requeue_after > 0:
            self.queue.forget(req)
            self.queue.add_after(req, result.requeue_after)
            return "requeue_after"
        self.queue.add_rate_limited(req)
        return "requeue"
