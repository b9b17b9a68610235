"""A circuit breaker per Nimbus endpoint: stop hammering a Nimbus that keeps failing.

When a Nimbus is down, every call to it costs a connect timeout (or worse, a
call timeout) before the pool can try elsewhere. After ``failure_threshold``
consecutive failures the breaker *opens*: calls are refused at once with
``errors.CircuitOpenError`` (which says when the next try is due), so the pool
moves on to another endpoint or backs off without waiting on the dead one.

States (``state``)::

    CLOSED --threshold consecutive failures--> OPEN
    OPEN --reset_timeout elapsed--> HALF_OPEN   (computed from the clock on read)
    HALF_OPEN --the one trial call succeeds--> CLOSED
    HALF_OPEN --the one trial call fails--> OPEN (for another reset_timeout)

Contract:

- ``admit()`` is asked before connecting or calling and returns an
  ``Admission``, or raises ``CircuitOpenError``. In ``HALF_OPEN`` exactly one
  call is admitted (the trial); everyone else is refused until it reports.
- Each admission reports once: ``succeeded()``, ``failed()``, or
  ``abandoned()`` for a call that ended without telling anything about the
  endpoint (cancelled, refused locally). ``outcome(exc)`` classifies an
  exception for you, and ``guard()`` does admit + outcome around a block.
  Reporting more than once is ignored, so ``finally`` blocks may be sloppy.
- What counts: only ``errors.NimbusUnavailable`` failures from the endpoint
  itself (``ConnectionFailed``, ``CallTimeout`` …) are failures. An answer from
  Nimbus proves the endpoint alive and counts as success, even a refusal
  (``NimbusRejected``) or a ``NotLeaderError`` (a follower is healthy; opening
  its circuit would also stop the reads it can serve). ``CircuitOpenError`` and
  ``NoLeaderError`` are not about this endpoint; they, and anything that is not
  a Nimbus error (cancellation, a local bug), are abandoned.
- Reports of calls admitted before the last state change are ignored: when the
  circuit has opened, a slow call that was admitted while it was closed and
  now succeeds must not close it again (each state change starts a new
  generation; an admission belongs to one generation).
- An abandoned trial frees the half-open slot, so the next caller becomes the
  trial; a trial that never reports would wedge the breaker, which is why the
  pool reports in ``finally`` blocks.

Time comes from the injected ``clock`` (monotonic seconds), so tests drive the
reset timeout without sleeping. One breaker belongs to one event loop; it is
not thread-safe and needs no locks because it never awaits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import time
from collections.abc import Callable, Iterator

from pilothouse.operators.storm.nimbus import errors


class BreakerState(enum.Enum):
    """Where a breaker is; ``HALF_OPEN`` covers both "trial due" and "trial in flight"."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclasses.dataclass(frozen=True)
class BreakerConfig:
    """Open after ``failure_threshold`` failures in a row; try again ``reset_timeout`` s later."""

    failure_threshold: int = 5
    reset_timeout: float = 5.0

    def __post_init__(self) -> None:
        threshold = self.failure_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ValueError(
                f"BreakerConfig.failure_threshold must be an int >= 1, got {threshold!r}"
            )
        timeout = self.reset_timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ValueError(
                f"BreakerConfig.reset_timeout must be a finite number > 0, got {timeout!r}"
            )


class Admission:
    """Permission for one call; report how it went exactly once (extra reports are ignored)."""

    def __init__(self, breaker: CircuitBreaker, generation: int, trial: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self.trial = trial
        self.reported = False

    def succeeded(self) -> None:
        """The endpoint answered (whatever the answer was)."""
        self._report(True)

    def failed(self) -> None:
        """The endpoint could not be reached or did not answer in time."""
        self._report(False)

    def abandoned(self) -> None:
        """The call ended without telling anything about the endpoint."""
        self._report(None)

    def outcome(self, exc: BaseException | None) -> None:
        """Report the call that ended with ``exc`` (None: it returned), classified as above."""
        self._report(counts_as(exc))

    def _report(self, ok: bool | None) -> None:
        if self.reported:
            return
        self.reported = True
        self._breaker._settle(self, ok)


def counts_as(exc: BaseException | None) -> bool | None:
    """True (success), False (failure) or None (no verdict) for a call that ended with ``exc``."""
    if exc is None:
        return True
    if isinstance(exc, errors.CircuitOpenError | errors.NoLeaderError):
        return None
    if isinstance(exc, errors.NotLeaderError | errors.NimbusRejected):
        return True
    if isinstance(exc, errors.NimbusUnavailable):
        return False
    return None


class CircuitBreaker:
    """The breaker of one endpoint; see the module docstring for the contract."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        endpoint: str = "nimbus",
    ) -> None:
        self.config = config or BreakerConfig()
        self.endpoint = endpoint
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False
        self._generation = 0
        #: How many times the circuit opened (for metrics and tests).
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit whose reset timeout passed reads ``HALF_OPEN``."""
        if self._state is BreakerState.OPEN and self.retry_in() == 0:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success (or since the circuit last closed)."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open circuit admits its trial call; 0 when it would admit now."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.config.reset_timeout - self._clock())

    def allows(self) -> bool:
        """Whether ``admit`` would succeed now; consumes nothing (for choosing an endpoint)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._trial_out

    def admit(self) -> Admission:
        """Permission for one call, or ``errors.CircuitOpenError`` when the circuit refuses."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Admission(self, self._generation, trial=False)
        if state is BreakerState.HALF_OPEN and not self._trial_out:
            if self._state is BreakerState.OPEN:
                self._transition(BreakerState.HALF_OPEN)
            self._trial_out = True
            return Admission(self, self._generation, trial=True)
        # Open, or half-open with the trial still out: the trial's report decides when.
        raise errors.CircuitOpenError(self.endpoint, self.retry_in())

    @contextlib.contextmanager
    def guard(self) -> Iterator[Admission]:
        """``admit()`` around a block, reporting ``outcome`` of whatever the block raised."""
        admission = self.admit()
        try:
            yield admission
        except BaseException as exc:
            admission.outcome(exc)
            raise
        admission.outcome(None)

    def _transition(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._trial_out = False

    def _settle(self, admission: Admission, ok: bool | None) -> None:
        if admission._generation != self._generation:
            return
        if self._state is BreakerState.HALF_OPEN:
            if not admission.trial:
                return
            if ok is None:
                self._trial_out = False
            elif ok:
                self._close()
            else:
                self._open()
            return
        if self._state is BreakerState.CLOSED:
            if ok is True:
                self._failures = 0
            elif ok is False:
                self._failures += 1
                if self._failures >= self.config.failure_threshold:
                    self._open()

    def _open(self) -> None:
        self._transition(BreakerState.OPEN)
        self._opened_at = self._clock()
        self.times_opened += 1

    def _close(self) -> None:
        self._transition(BreakerState.CLOSED)
        self._failures = 0
