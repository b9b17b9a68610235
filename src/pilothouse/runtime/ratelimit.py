"""Rate limiters for the work queue: client-go's ``workqueue`` rate limiters, semantics included.

A rate limiter answers one question for :meth:`RateLimitingQueue.add_rate_limited
<pilothouse.runtime.workqueue.RateLimitingQueue.add_rate_limited>`: *how long must this item
wait before it is retried?* The answers, and the state behind them, are client-go's, because
operators tuned against controller-runtime (alerting on ``workqueue_retries_total``, expecting
a failing object to be retried after 5 ms, 10 ms, 20 ms ... and at most every 16 minutes) should
see the same timing here:

* :class:`ItemExponentialFailureRateLimiter` -- per item, ``base * 2**failures`` capped at
  ``max``; every :meth:`~RateLimiter.when` counts a failure, :meth:`~RateLimiter.forget` resets.
  Overflow-safe: after enough failures the delay simply stays at ``max``.
* :class:`BucketRateLimiter` -- one token bucket shared by all items (``golang.org/x/time/rate``
  ``Limiter.Reserve().Delay()``): a full bucket of ``burst`` tokens, refilled at ``qps``.
  :meth:`~BucketRateLimiter.when` always *reserves* a token, so a burst of failures is spread
  out: with 10 qps / 100 burst the first 100 retries are immediate and the next ones 0.1 s
  apart. It has no per-item state (``forget`` is a no-op, ``num_requeues`` is 0).
* :class:`MaxOfRateLimiter` -- asks every limiter (so each records the attempt) and waits the
  longest.
* :func:`default_controller_rate_limiter` -- controller-runtime's default for every controller:
  max(exponential 5 ms .. 1000 s, bucket 10 qps / 100 burst).

Delays are float seconds (Go uses integer nanoseconds; the difference is below any timer's
resolution). Limiters are plain synchronous objects for one event loop, not thread-safe; the
bucket reads time from a :class:`~pilothouse.runtime.clock.Clock`, so tests drive it with
:class:`~pilothouse.runtime.clock.FakeClock`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any, Generic, Protocol, TypeVar

from pilothouse.runtime.clock import Clock, RealClock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# 2.0 ** 1024 overflows a float; any exponent past this is "capped" whatever base and max are.
_MAX_EXPONENT = 1023


class RateLimiter(Protocol[K_contra]):
    """client-go's ``TypedRateLimiter``."""

    def when(self, item: K_contra) -> float:
        """Record a failure of ``item`` and return how many seconds to wait before retrying."""

    def forget(self, item: K_contra) -> None:
        """Stop tracking ``item`` (it succeeded); its backoff starts over."""

    def num_requeues(self, item: K_contra) -> int:
        """How many failures of ``item`` are being tracked."""


class ItemExponentialFailureRateLimiter(Generic[K]):
    """``base * 2**failures`` per item, capped at ``max`` (client-go's defaults: 5 ms, 1000 s)."""

    __slots__ = ("_failures", "base", "max")

    def __init__(self, base: float = 0.005, max: float = 1000.0) -> None:
        if base < 0 or max < 0:
            raise ValueError("base and max must be >= 0")
        self.base = float(base)
        self.max = float(max)
        self._failures: dict[K, int] = {}

    def when(self, item: K) -> float:
        failures = self._failures
        exp = failures.get(item, 0)
        failures[item] = exp + 1
        if exp > _MAX_EXPONENT:
            return self.max
        backoff = self.base * 2.0**exp  # may overflow to inf, but never raises
        return self.max if backoff > self.max else backoff

    def forget(self, item: K) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: K) -> int:
        return self._failures.get(item, 0)

    def __repr__(self) -> str:
        return f"ItemExponentialFailureRateLimiter(base={self.base!r}, max={self.max!r})"


class BucketRateLimiter:
    """A token bucket for all items: ``x/time/rate`` ``Limiter(qps, burst).Reserve().Delay()``.

    ``qps`` may be ``math.inf`` (never waits). As in Go, a reservation that can never be
    satisfied (``burst`` of 0, or a 0 ``qps`` bucket once its burst is spent) waits forever:
    :meth:`when` returns ``math.inf``.
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        if qps < 0 or burst < 0:
            raise ValueError("qps and burst must be >= 0")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock: Clock = clock if clock is not None else RealClock()
        self._tokens = float(self.burst)  # Go's zero-valued `last` makes the first bucket full
        self._last: float | None = None

    def when(self, item: object) -> float:
        qps = self.qps
        if qps == math.inf:
            return 0.0
        if self.burst < 1:
            return math.inf
        now = self._clock.now()
        if qps == 0:  # x/time/rate: the burst is spent once, then nothing more is ever allowed
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return math.inf
        # advance(): refill for the time since the last reservation, up to the burst (the
        # bucket starts full; a clock going backwards refills nothing).
        tokens = self._tokens
        last = self._last
        if last is not None and now > last:
            tokens += (now - last) * qps
            if tokens > self.burst:
                tokens = float(self.burst)
        tokens -= 1.0
        self._tokens = tokens
        self._last = now
        return -tokens / qps if tokens < 0 else 0.0

    def forget(self, item: object) -> None:
        return None

    def num_requeues(self, item: object) -> int:
        return 0

    def __repr__(self) -> str:
        return f"BucketRateLimiter(qps={self.qps!r}, burst={self.burst!r})"


class MaxOfRateLimiter(Generic[K]):
    """The longest delay of several limiters; every limiter sees every call."""

    __slots__ = ("limiters",)

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters: tuple[RateLimiter[K], ...] = limiters

    def when(self, item: K) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: K) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def __repr__(self) -> str:
        return f"MaxOfRateLimiter{self.limiters!r}"


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter[Any]:
    """controller-runtime's default: max(exponential 5 ms .. 1000 s, bucket 10 qps / 100 burst)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
