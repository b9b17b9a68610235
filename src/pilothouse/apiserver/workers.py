"""A tiny level-triggered work queue for the server's own controllers (CRD establishment,
namespace termination, garbage collection).

Store listeners run synchronously on the loop inside the commit pipeline, so they must not
block; they only :meth:`KeyedWorker.enqueue` keys. One worker task drains the queue,
deduplicating keys (a key queued five times while being processed is processed once more,
not five times), and retries a failed key with exponential backoff.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class Requeue(Exception):
    """Raised by a handler to be called again for the same key after ``delay`` seconds."""

    def __init__(self, delay: float = 0.05) -> None:
        super().__init__(delay)
        self.delay = delay


class KeyedWorker(Generic[K]):
    def __init__(self, name: str, handler: Callable[[K], Awaitable[None]]) -> None:
        self.name = name
        self._handler = handler
        self._queue: collections.OrderedDict[K, None] = collections.OrderedDict()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # At most one pending timer per key, the earliest: a key woken again and again by
        # events must not pile up timers.
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}
        self._busy = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def enqueue(self, key: K) -> None:
        self._queue[key] = None
        self._wakeup.set()

    def enqueue_after(self, key: K, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= when:
                return
            pending.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.enqueue(key)

        self._timers[key] = loop.call_at(when, fire)

    @property
    def idle(self) -> bool:
        return not self._queue and not self._busy and not self._timers

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key, _ = self._queue.popitem(last=False)
            self._busy = True
            try:
                await self._handler(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Requeue as rq:
                self.enqueue_after(key, rq.delay)
            except Exception:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                delay = min(0.01 * 2**n, 30.0)
                log.exception(
                    "%s: handling %r failed (attempt %d); retrying in %.2fs",
                    self.name,
                    key,
                    n,
                    delay,
                )
                self.enqueue_after(key, delay)
            finally:
                self._busy = False
