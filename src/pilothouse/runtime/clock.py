"""The clock the operator runtime runs on: real for production, fake (and deterministic) for tests.

Everything in the runtime that waits -- the work queue's delaying heap, rate-limiter token
buckets, ``RequeueAfter``, lease renewals -- asks a :class:`Clock` instead of reading the time
or scheduling timers itself. That is the design of ``k8s.io/utils/clock`` that client-go and
controller-runtime use, and for the same reason: timing behaviour (exponential backoff, token
buckets, requeue delays) becomes testable without sleeping, by swapping in :class:`FakeClock`.

The interface is deliberately tiny and asyncio-shaped:

* :meth:`Clock.now` -- monotonic seconds (never wall-clock: deadlines must not jump when NTP
  adjusts the time of day);
* :meth:`Clock.call_at` -- run a plain callback at an absolute :meth:`~Clock.now` deadline and
  return a cancellable :class:`Timer`. This is the primitive the work queue arms *one* of for
  its whole delaying heap; callbacks are synchronous, so no task is created per timer;
* :meth:`Clock.sleep` -- the coroutine convenience on top.

:class:`RealClock` is a thin veneer over the running event loop (``loop.time()``,
``loop.call_at``), so its timers are ordinary asyncio timer handles. Outside a running loop
(a ``/metrics`` scrape from another thread, say) :meth:`RealClock.now` falls back to
:func:`time.monotonic`, which is what the default asyncio loop's ``time()`` returns anyway.

:class:`FakeClock` only moves when told to (:meth:`FakeClock.advance`, :meth:`FakeClock.set`).
Stepping it fires every due callback synchronously, in deadline order (ties in scheduling
order), with :meth:`~FakeClock.now` set to each callback's own deadline while it runs -- so a
callback that re-arms itself relative to ``now()`` behaves as it would in real time, and a
callback scheduled *during* a step fires within that same step if it is due. As in
``k8s.io/utils/clock/testing``, a timer whose deadline is already due when it is armed does
not fire at once: it fires on the next step (``advance(0)`` flushes). Coroutines woken by a
step (``sleep``\\ ers) resume when the event loop next runs, not inside ``advance``.

Neither clock is thread-safe; like the rest of the runtime they belong to one event loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "FakeClock", "FakeTimer", "RealClock", "Timer"]


class Timer(Protocol):
    """A scheduled callback; :class:`asyncio.TimerHandle` is one."""

    def cancel(self) -> None:
        """Stop the callback from running; a no-op if it already ran or was cancelled."""

    def when(self) -> float:
        """The :meth:`Clock.now` deadline the callback is (or was) due at."""


class Clock(Protocol):
    """Monotonic time and timers, in seconds."""

    def now(self) -> float:
        """The current monotonic time in seconds (arbitrary epoch)."""

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback()`` once :meth:`now` reaches ``when``; cancel with the returned timer."""

    async def sleep(self, delay: float) -> None:
        """Return after ``delay`` seconds of this clock's time."""


class RealClock:
    """The running asyncio loop's clock: ``loop.time()`` and ``loop.call_at``."""

    __slots__ = ()

    def now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # no running loop in this thread: same clock as the default loop
            return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_at(when, callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)

    def __repr__(self) -> str:
        return "RealClock()"


class FakeTimer:
    """A timer on a :class:`FakeClock`."""

    __slots__ = ("_callback", "_cancelled", "_clock", "_fired", "_when")

    def __init__(self, clock: FakeClock, when: float, callback: Callable[[], object]) -> None:
        self._clock = clock
        self._when = when
        self._callback = callback
        self._cancelled = False
        self._fired = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        if not self._cancelled and not self._fired:
            self._cancelled = True
            self._clock._pending -= 1

    def cancelled(self) -> bool:
        return self._cancelled

    def fired(self) -> bool:
        return self._fired

    def __repr__(self) -> str:
        state = "cancelled" if self._cancelled else "fired" if self._fired else "pending"
        return f"FakeTimer(when={self._when!r}, {state})"


class FakeClock:
    """A clock for tests: time moves only on :meth:`advance` / :meth:`set`.

    >>> clock = FakeClock()
    >>> fired = []
    >>> _ = clock.call_at(2.0, lambda: fired.append(clock.now()))
    >>> clock.advance(5)
    >>> fired, clock.now()
    ([2.0], 5.0)
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._heap: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()
        self._pending = 0  # armed, neither fired nor cancelled

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> FakeTimer:
        timer = FakeTimer(self, float(when), callback)
        heapq.heappush(self._heap, (timer._when, next(self._seq), timer))
        self._pending += 1
        return timer

    def call_later(self, delay: float, callback: Callable[[], object]) -> FakeTimer:
        """:meth:`call_at` ``now() + delay``."""
        return self.call_at(self._now + delay, callback)

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_at(self._now + delay, wake)
        try:
            await fut
        finally:
            timer.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every callback that falls due."""
        if seconds < 0:
            raise ValueError(f"FakeClock cannot go backwards (advance({seconds!r}))")
        self._step(self._now + seconds)

    def set(self, t: float) -> None:
        """Move time forward to ``t``, firing every callback that falls due."""
        if t < self._now:
            raise ValueError(f"FakeClock cannot go backwards ({t!r} < now {self._now!r})")
        self._step(float(t))

    def _step(self, target: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= target:
            when, _, timer = heapq.heappop(heap)
            if timer._cancelled:
                continue
            timer._fired = True
            self._pending -= 1
            if when > self._now:
                self._now = when
            timer._callback()
        self._now = target

    @property
    def pending_timers(self) -> int:
        """How many timers are armed (neither fired nor cancelled)."""
        return self._pending

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or ``None``."""
        heap = self._heap
        while heap and heap[0][2]._cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, pending_timers={self._pending})"
