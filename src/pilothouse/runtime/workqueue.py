"""The controller work queue: client-go's rate-limiting, delaying work queue, in asyncio.

Every controller is fed by one of these. Its semantics are client-go's ``workqueue`` (the
``Typed`` / ``delayingType`` / ``rateLimitingType`` stack) and not a plain FIFO, because
level-triggered reconciliation relies on them:

* **Deduplication.** A key waiting in the queue is queued once, however many times it is
  added: ten events about one object while it waits cost one reconcile.
* **No concurrent processing of a key.** A key handed out by :meth:`~RateLimitingQueue.get`
  is *processing* until :meth:`~RateLimitingQueue.done`. Adding it meanwhile only marks it
  *dirty*; ``done`` puts it back at the tail of the queue. So however many workers run, one
  key is reconciled by at most one of them at a time, and a change that arrived during a
  reconcile is never lost (it gets another reconcile after this one).
* **FIFO** among queued keys.
* **Delays** (:meth:`~RateLimitingQueue.add_after`). Delayed keys wait in a heap, outside the
  queue, and are :meth:`~RateLimitingQueue.add`\\ ed when due. Adding a key that is already
  waiting keeps the *earliest* deadline (client-go's ``waitingForQueue``). A delayed key is
  independent of the queue: adding it directly meanwhile does not cancel the delayed add.
* **Rate limiting** (:meth:`~RateLimitingQueue.add_rate_limited`): ``add_after`` with the
  delay a :class:`~pilothouse.runtime.ratelimit.RateLimiter` picks (by default
  controller-runtime's: per-key exponential backoff and an overall token bucket);
  :meth:`~RateLimitingQueue.forget` resets a key's backoff once it succeeds.
* **Shutdown.** After :meth:`~RateLimitingQueue.shutdown`, adds are ignored and delayed keys
  dropped, but :meth:`~RateLimitingQueue.get` keeps handing out what is already queued (and
  dirty keys ``done`` re-queues); once the queue is empty it raises :class:`ShutDown`.
  :meth:`~RateLimitingQueue.shutdown_with_drain` also waits until no key is processing --
  client-go's condition: every ``get`` must be matched by a ``done`` or it waits forever.

Costs: ``add``, ``get`` and ``done`` are O(1) (a deque plus a set and a dict); ``add_after`` is
O(log n) on a heap with lazy deletion. The whole delaying heap is served by *one*
:class:`~pilothouse.runtime.clock.Clock` timer, re-armed to the earliest deadline -- no polling
and no task per key. A ``get`` finding work returns without suspending (like
:meth:`asyncio.Queue.get`), so a worker that never awaits anything else never yields.

Metrics are client-go's, through the small :class:`WorkqueueMetricsProvider` interface
(:class:`~pilothouse.runtime.metrics.RuntimeMetrics` implements it); with no provider, or no
``name`` (as in client-go), the queue records none and reads no clock on the hot path.
``workqueue_depth`` (the number of dirty keys: queued, or added while processing -- exactly
client-go's increments and decrements), ``workqueue_unfinished_work_seconds`` and
``workqueue_longest_running_processor_seconds`` are *sampled* gauges computed at scrape time
from the queue's state, where client-go updates them on every operation or on a 500 ms ticker.
``workqueue_retries_total`` counts every ``add_after`` (hence every ``add_rate_limited``),
as client-go does.

The queue belongs to one event loop and is not thread-safe; from another thread, use
``loop.call_soon_threadsafe(queue.add, key)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from pilothouse.runtime.clock import Clock, RealClock, Timer
from pilothouse.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

__all__ = [
    "CounterMetric",
    "HistogramMetric",
    "RateLimitingQueue",
    "SampledGaugeMetric",
    "ShutDown",
    "WorkqueueMetricsProvider",
]

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`RateLimitingQueue.get` once the queue is shut down and empty."""


class CounterMetric(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class HistogramMetric(Protocol):
    def observe(self, amount: float) -> None: ...


class SampledGaugeMetric(Protocol):
    """A gauge whose value a callback computes when it is collected."""

    def set_function(self, f: Callable[[], float]) -> None: ...


class WorkqueueMetricsProvider(Protocol):
    """Creates one queue's metrics (client-go's ``MetricsProvider``, gauges sampled)."""

    def new_depth_metric(self, name: str) -> SampledGaugeMetric: ...
    def new_adds_metric(self, name: str) -> CounterMetric: ...
    def new_latency_metric(self, name: str) -> HistogramMetric: ...
    def new_work_duration_metric(self, name: str) -> HistogramMetric: ...
    def new_unfinished_work_seconds_metric(self, name: str) -> SampledGaugeMetric: ...
    def new_longest_running_processor_seconds_metric(self, name: str) -> SampledGaugeMetric: ...
    def new_retries_metric(self, name: str) -> CounterMetric: ...


class _NoMetric:
    """Stands in for the counters and histograms of a queue without metrics."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        return None

    def observe(self, amount: float) -> None:
        return None


_NO_METRIC = _NoMetric()


class RateLimitingQueue(Generic[K]):
    """client-go's rate-limiting work queue; see the module documentation for the semantics."""

    __slots__ = (
        "__weakref__",
        "_add_times",
        "_adds",
        "_clock",
        "_dirty",
        "_drain",
        "_drainers",
        "_getters",
        "_latency",
        "_processing",
        "_queue",
        "_rate_limiter",
        "_retries",
        "_seq",
        "_shutting_down",
        "_timed",
        "_timer",
        "_timer_when",
        "_waiting",
        "_waiting_keys",
        "_work_duration",
        "name",
    )

    def __init__(
        self,
        rate_limiter: RateLimiter[K] | None = None,
        *,
        name: str = "",
        clock: Clock | None = None,
        metrics: WorkqueueMetricsProvider | None = None,
    ) -> None:
        self.name = name
        self._clock: Clock = clock if clock is not None else RealClock()
        if rate_limiter is None:
            rate_limiter = default_controller_rate_limiter(self._clock)
        self._rate_limiter: RateLimiter[K] = rate_limiter
        self._queue: deque[K] = deque()  # FIFO of keys to hand out; every one is dirty
        self._dirty: set[K] = set()  # queued, or added while processing
        self._processing: dict[K, float] = {}  # key -> start time (0.0 when untimed)
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drainers: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._drain = False
        # Delaying heap of (ready_at, seq, key); _waiting_keys maps each waiting key to the
        # (ready_at, seq) of its live entry, so superseded entries are skipped when popped.
        self._waiting: list[tuple[float, int, K]] = []
        self._waiting_keys: dict[K, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._timer: Timer | None = None
        self._timer_when = math.inf
        self._add_times: dict[K, float] = {}
        self._adds: CounterMetric = _NO_METRIC
        self._latency: HistogramMetric = _NO_METRIC
        self._work_duration: HistogramMetric = _NO_METRIC
        self._retries: CounterMetric = _NO_METRIC
        self._timed = False
        if metrics is not None and name:
            self._init_metrics(metrics, name)

    def _init_metrics(self, provider: WorkqueueMetricsProvider, name: str) -> None:
        self._timed = True
        self._adds = provider.new_adds_metric(name)
        self._latency = provider.new_latency_metric(name)
        self._work_duration = provider.new_work_duration_metric(name)
        self._retries = provider.new_retries_metric(name)
        # Sampled gauges hold only a weak reference: a registry must not keep queues alive.
        ref = weakref.ref(self)

        def depth() -> float:
            q = ref()
            return float(len(q._dirty)) if q is not None else 0.0

        def unfinished() -> float:
            q = ref()
            if q is None or not q._processing:
                return 0.0
            now = q._clock.now()
            return sum(now - start for start in q._processing.values())

        def longest() -> float:
            q = ref()
            if q is None or not q._processing:
                return 0.0
            return q._clock.now() - min(q._processing.values())

        provider.new_depth_metric(name).set_function(depth)
        provider.new_unfinished_work_seconds_metric(name).set_function(unfinished)
        provider.new_longest_running_processor_seconds_metric(name).set_function(longest)

    # -- the queue -----------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already queued; if it is processing, mark it dirty."""
        if self._shutting_down:
            return
        dirty = self._dirty
        if key in dirty:
            return
        if self._timed:
            self._adds.inc()
            if key not in self._add_times:
                self._add_times[key] = self._clock.now()
        dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wakeup_getter()

    async def get(self) -> K:
        """The next key, waiting for one; raises :class:`ShutDown` once shut down and empty.

        The caller must call :meth:`done` with the key when it has finished with it.
        """
        queue = self._queue
        while not queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if queue and not getter.cancelled():
                    self._wakeup_getter()  # we were woken for a key we will not take
                raise
        key = queue.popleft()
        self._dirty.discard(key)
        if self._timed:
            now = self._clock.now()
            self._processing[key] = now
            added = self._add_times.pop(key, None)
            if added is not None:
                self._latency.observe(now - added)
        else:
            self._processing[key] = 0.0
        return key

    def done(self, key: K) -> None:
        """Finish processing ``key``: re-queue it if it was added meanwhile.

        A no-op for a key that is not processing.
        """
        processing = self._processing
        start = processing.pop(key, None)
        if start is None:
            return
        if self._timed:
            self._work_duration.observe(self._clock.now() - start)
        if key in self._dirty:
            self._queue.append(key)
            self._wakeup_getter()
        if not processing and self._drainers:
            self._wakeup_drainers()

    def len(self) -> int:
        """How many keys are queued (neither processing nor waiting for a delay)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def rate_limiter(self) -> RateLimiter[K]:
        return self._rate_limiter

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def num_processing(self) -> int:
        return len(self._processing)

    def num_waiting(self) -> int:
        """How many keys wait for a delay (:meth:`add_after`) to expire."""
        return len(self._waiting_keys)

    def _wakeup_getter(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _wakeup_drainers(self) -> None:
        drainers, self._drainers = self._drainers, []
        for fut in drainers:
            if not fut.done():
                fut.set_result(None)

    # -- delays --------------------------------------------------------------------------

    def add_after(self, key: K, delay: float) -> None:
        """:meth:`add` ``key`` once ``delay`` seconds have passed (at once if ``delay <= 0``).

        If ``key`` is already waiting, the earlier of the two deadlines is kept.
        """
        if self._shutting_down:
            return
        self._retries.inc()
        now = self._clock.now()
        ready_at = now + delay
        if not ready_at > now:  # delay <= 0, below the clock's float resolution, or NaN
            self.add(key)
            return
        current = self._waiting_keys.get(key)
        if current is not None and current[0] <= ready_at:
            return
        seq = next(self._seq)
        self._waiting_keys[key] = (ready_at, seq)
        heapq.heappush(self._waiting, (ready_at, seq, key))
        if ready_at < self._timer_when:
            self._arm(ready_at)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_at(when, self._on_timer)
        self._timer_when = when

    def _on_timer(self) -> None:
        # Everything up to the armed deadline is due, even if the loop fired a hair early.
        limit = max(self._clock.now(), self._timer_when)
        self._timer = None
        self._timer_when = math.inf
        heap = self._waiting
        waiting_keys = self._waiting_keys
        while heap and heap[0][0] <= limit:
            _, seq, key = heapq.heappop(heap)
            live = waiting_keys.get(key)
            if live is None or live[1] != seq:
                continue  # superseded by an earlier deadline
            del waiting_keys[key]
            self.add(key)
        # Drop superseded entries from the top, then re-arm for the earliest live one.
        while heap:
            ready_at, seq, key = heap[0]
            live = waiting_keys.get(key)
            if live is not None and live[1] == seq:
                if ready_at < math.inf:
                    self._arm(ready_at)
                break
            heapq.heappop(heap)

    # -- rate limiting -------------------------------------------------------------------

    def add_rate_limited(self, key: K) -> None:
        """:meth:`add_after` ``key`` with the delay the rate limiter picks (counting a failure)."""
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s rate limiting (call it once ``key`` was processed successfully)."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many times ``key`` has been rate-limited since it was last forgotten."""
        return self._rate_limiter.num_requeues(key)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Ignore adds from now on; :meth:`get` raises :class:`ShutDown` once drained.

        Also releases any :meth:`shutdown_with_drain` still waiting.
        """
        self._drain = False
        self._shutdown()
        self._wakeup_drainers()

    async def shutdown_with_drain(self) -> None:
        """:meth:`shutdown`, then wait until no key is processing (every ``get`` is ``done``).

        Returns early if :meth:`shutdown` is called meanwhile.
        """
        self._drain = True
        self._shutdown()
        while self._processing and self._drain:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drainers.append(fut)
            try:
                await fut
            finally:
                fut.cancel()

    def _shutdown(self) -> None:
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_when = math.inf
        self._waiting.clear()
        self._waiting_keys.clear()
        getters, self._getters = self._getters, deque()
        for getter in getters:
            if not getter.done():
                getter.set_result(None)

    def __repr__(self) -> str:
        return (
            f"RateLimitingQueue(name={self.name!r}, queued={len(self._queue)}, "
            f"processing={len(self._processing)}, waiting={len(self._waiting_keys)}, "
            f"shutting_down={self._shutting_down})"
        )
