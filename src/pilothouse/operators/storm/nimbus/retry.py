"""How long to wait between attempts of a Nimbus call: capped exponential backoff with jitter.

``RetryPolicy`` only answers *how many attempts* and *how long to wait before the
next one*; *whether* a failure may be retried at all is the pool's safety
contract (``pool``), because it depends on whether the request may already have
reached Nimbus.

Attempts are numbered from 0, like a ``for attempt in range(attempts)`` loop.
The delay after failed attempt ``n`` (before attempt ``n + 1``) is drawn under
a ceiling that grows exponentially::

    ceiling(n) = min(max_delay, base_delay * multiplier ** n)

and then jittered, because many operators (or many reconciles of one operator)
that lost the same Nimbus at the same moment must not come back in lock step:

- ``"full"`` (the default): uniform in ``[0, ceiling(n)]``. The AWS
  architecture blog's "full jitter": the least total work for the server and
  the most spread, at the price of occasionally retrying almost at once.
- ``"decorrelated"``: uniform in ``[base_delay, previous * multiplier]``,
  capped at ``max_delay``, where ``previous`` is the delay actually waited last
  time (``base_delay`` before the first). The blog's "decorrelated jitter"
  (which uses a factor of 3; here it is ``multiplier``): each delay depends on
  the last one rather than on the attempt number, so it never drops below
  ``base_delay`` and callers drift apart faster. Being stateful, it needs the
  previous delay: pass it to ``delay`` or iterate ``delays``.
- ``"none"``: exactly ``ceiling(n)``; for tests and for reasoning about the
  worst case. Not for production: synchronised retries are what jitter is for.

Guarantees: every delay is finite and within ``[0, max_delay]`` (``"decorrelated"``:
within ``[base_delay, max_delay]``), also for absurd attempt numbers (the
exponent is computed overflow-safe). Randomness comes only from the
``random.Random`` passed in, so tests seed it and get reproducible delays.
Fields are validated when the policy is made: a bad value is a ``ValueError``
naming the field, not a surprise at the first outage.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from typing import Literal

Jitter = Literal["full", "decorrelated", "none"]

_JITTERS: tuple[Jitter, ...] = ("full", "decorrelated", "none")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries in all (1 = no retry), with jittered exponential backoff."""

    attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    multiplier: float = 2.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        # bool is an int; ``attempts=True`` is a typo, not "one attempt".
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ValueError(f"RetryPolicy.attempts must be an int, got {self.attempts!r}")
        if self.attempts < 1:
            raise ValueError(
                f"RetryPolicy.attempts must be at least 1 (1 means no retry), got {self.attempts}"
            )
        for name in ("base_delay", "max_delay", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"RetryPolicy.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"RetryPolicy.{name} must be finite and >= 0, got {value!r}")
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"RetryPolicy.max_delay ({self.max_delay}) must not be below "
                f"base_delay ({self.base_delay})"
            )
        if self.multiplier < 1:
            raise ValueError(
                f"RetryPolicy.multiplier must be >= 1 (delays never shrink), got {self.multiplier}"
            )
        if self.jitter not in _JITTERS:
            raise ValueError(
                f"RetryPolicy.jitter must be one of {', '.join(_JITTERS)}, got {self.jitter!r}"
            )

    def ceiling(self, attempt: int) -> float:
        """The most ``"full"`` jitter waits after failed attempt ``attempt`` (from 0)."""
        if attempt < 0:
            raise ValueError(f"attempts are numbered from 0, got {attempt}")
        if self.base_delay == 0:
            return 0.0
        try:
            raw = self.base_delay * self.multiplier**attempt
        except OverflowError:
            # Past ~2**1023 the float overflows; the ceiling is max_delay long before that.
            return self.max_delay
        return min(self.max_delay, raw)

    def delay(self, attempt: int, rng: random.Random, previous: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (from 0) before the next one.

        ``previous`` is the delay waited before, used by ``"decorrelated"`` jitter
        only (``None``: this is the first delay). ``rng`` is the only source of
        randomness.
        """
        ceiling = self.ceiling(attempt)
        if self.jitter == "none":
            return ceiling
        if self.jitter == "full":
            return rng.uniform(0.0, ceiling)
        last = self.base_delay if previous is None else max(previous, self.base_delay)
        upper = min(self.max_delay, last * self.multiplier)
        # uniform(a, b) may round to just past b; the cap is part of the contract.
        return min(self.max_delay, max(self.base_delay, rng.uniform(self.base_delay, upper)))

    def delays(self, rng: random.Random) -> Iterator[float]:
        """The ``attempts - 1`` delays of one call, in order, threading the decorrelated state."""
        previous: float | None = None
        for attempt in range(self.attempts - 1):
            previous = self.delay(attempt, rng, previous)
            yield previous

    def worst_case(self) -> float:
        """The longest total time all delays of one call can add up to (for timeouts and docs)."""
        if self.jitter == "decorrelated":
            total, previous = 0.0, self.base_delay
            for _ in range(self.attempts - 1):
                previous = min(self.max_delay, previous * self.multiplier)
                total += previous
            return total
        return sum(self.ceiling(n) for n in range(self.attempts - 1))
