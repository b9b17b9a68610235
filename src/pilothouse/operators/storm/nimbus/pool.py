"""The per-cluster Nimbus connection pool: finds the leader, reuses connections, retries safely.

One ``NimbusPool`` per Storm cluster (``registry.PoolRegistry`` keeps them per
cluster key). It owns every connection to that cluster's Nimbus daemons (kept
per endpoint by ``slots``), a circuit breaker per endpoint (``breaker``), the
leader finder (``discovery``), and the retry loop (``retry`` says how long to
wait; this module says *whether* to try again).

Connections (``borrow``): each endpoint's bounded set lives in ``slots`` (at
most ``max_connections``, LIFO reuse, ``idle_timeout``, a health check on
borrow after ``health_check_after``; the details are documented there). Before
each borrow the pool closes the connections idle too long at every endpoint;
``prune()`` does the same on demand.

Leader (``leader``, ``forget_leader``): found and cached by a
``discovery.LeaderFinder`` (one discovery shared by concurrent callers; how it
asks, and ``NoLeaderError``, are documented there). It borrows through this
pool, so its asks share the slots and breakers below.

Retries (``call``, ``run``): the safety contract. At most ``retry.attempts``
attempts, with ``retry`` backoff (through the injected ``sleep``) between them;
when they are exhausted, the last error is raised.

- ``NotLeaderError``: Storm checks leadership before doing anything, so the
  call did not run. The leader it names (or a fresh discovery) is used, and the
  call is retried, idempotent or not. With an explicit ``endpoint`` it is
  raised at once: trying the same follower again cannot help.
- Failures before the request was written (connecting refused or timed out,
  circuit open, no free connection slot, no leader found): retried always, on
  another endpoint where the caller did not pin one.
- ``ConnectionFailed``/``CallTimeout`` after the connection was handed over
  (the request may have been written, and may have run): retried only when
  ``idempotent``; otherwise raised at once, and the caller must look at
  Nimbus's state before trying again. For ``run``, everything ``fn`` does is
  "after": a non-idempotent ``fn`` is never retried once it started.
- ``NimbusRejected`` (Nimbus said no), ``FrameTooLargeError``,
  ``ProtocolError``, ``PoolClosedError``, cancellation and any other
  exception: never retried.
- A failure at the cached leader forgets it, so the next attempt rediscovers.
  Reads (``leader=False``) may be answered by followers.

Each attempt's outcome goes to its endpoint's breaker (``breaker`` says what
counts). The pool belongs to one event loop and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pilothouse.operators.storm.nimbus import breaker as breaker_mod
from pilothouse.operators.storm.nimbus import connection as connection_mod
from pilothouse.operators.storm.nimbus import discovery, errors, wire
from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import retry as retry_mod
from pilothouse.operators.storm.nimbus import slots as slots_mod

T = TypeVar("T")


class PoolClosedError(errors.NimbusError):
    """The pool was closed; make a new one (or get one from the registry)."""


@dataclasses.dataclass(frozen=True)
class PoolConfig:
    """How one cluster's pool connects, waits and retries; validated on creation."""

    seeds: tuple[endpoint_mod.Endpoint, ...]
    max_connections: int = 8
    idle_timeout: float = 60.0
    connect_timeout: float = 5.0
    call_timeout: float = 30.0
    health_check_after: float = 5.0
    max_frame: int = wire.DEFAULT_MAX_FRAME
    retry: retry_mod.RetryPolicy = dataclasses.field(default_factory=retry_mod.RetryPolicy)
    breaker: breaker_mod.BreakerConfig = dataclasses.field(
        default_factory=breaker_mod.BreakerConfig
    )

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, tuple) or not self.seeds:
            raise ValueError("PoolConfig.seeds must be a non-empty tuple of Nimbus endpoints")
        for seed in self.seeds:
            if not isinstance(seed, endpoint_mod.Endpoint):
                raise ValueError(f"PoolConfig.seeds must hold Endpoints, got {seed!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"PoolConfig.seeds lists an endpoint twice: {self.seeds}")
        for name in ("max_connections", "max_frame"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PoolConfig.{name} must be an int >= 1, got {value!r}")
        for name in ("idle_timeout", "connect_timeout", "call_timeout", "health_check_after"):
            value = getattr(self, name)
            bad = isinstance(value, bool) or not isinstance(value, int | float)
            if bad or not math.isfinite(value) or value < 0:
                raise ValueError(f"PoolConfig.{name} must be a finite number >= 0, got {value!r}")
            if value == 0 and name != "health_check_after":
                raise ValueError(f"PoolConfig.{name} must be > 0")


@dataclasses.dataclass(frozen=True)
class PoolStats:
    """A snapshot of the pool, per endpoint, for tests and metrics."""

    endpoints: Mapping[endpoint_mod.Endpoint, slots_mod.EndpointStats]
    leader: endpoint_mod.Endpoint | None
    discoveries: int

    @property
    def opened(self) -> int:
        return sum(s.opened for s in self.endpoints.values())

    @property
    def reused(self) -> int:
        return sum(s.reused for s in self.endpoints.values())

    @property
    def in_use(self) -> int:
        return sum(s.in_use for s in self.endpoints.values())

    @property
    def idle(self) -> int:
        return sum(s.idle for s in self.endpoints.values())


class NimbusPool:
    """Connections, leader and retries for one Storm cluster; see the module docstring."""

    def __init__(
        self,
        config: PoolConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._slots: dict[endpoint_mod.Endpoint, slots_mod.Slots] = {}
        self._ledger = slots_mod.Ledger(PoolClosedError)
        self._finder = discovery.LeaderFinder(
            config.seeds,
            self.borrow,
            timeout=min(config.connect_timeout, config.call_timeout),
            closed_error=PoolClosedError,
        )

    @property
    def rng(self) -> random.Random:
        """The pool's source of jitter (for callers running their own retry loops)."""
        return self._rng

    # -- leader -------------------------------------------------------------------------------

    @property
    def cached_leader(self) -> endpoint_mod.Endpoint | None:
        """The leader as last found or hinted, without asking anyone."""
        return self._finder.cached

    async def leader(self) -> endpoint_mod.Endpoint:
        """The leader Nimbus: cached, else discovered (one discovery for all callers)."""
        self._check_open()
        return await self._finder.leader()

    def forget_leader(self, hint: endpoint_mod.Endpoint | str | None = None) -> None:
        """Drop the cached leader; a ``hint`` ("host:port" or an Endpoint) becomes the new one.

        Without a hint, a discovery already running is kept (and its answer
        cached): it asks afresh, so starting another would only add load. An
        unparsable hint is ignored.
        """
        self._finder.forget(hint)

    # -- connections --------------------------------------------------------------------------

    def borrow(
        self, endpoint: endpoint_mod.Endpoint | None = None, *, leader: bool = False
    ) -> contextlib.AbstractAsyncContextManager[connection_mod.Connection]:
        """A connection for one caller, returned to the pool on exit unless broken.

        ``leader=True``: the leader's. ``endpoint``: that Nimbus. Neither: the
        cached leader, else the first seed whose breaker admits. Raises
        ``CircuitOpenError``, ``CallTimeout`` (no free slot in time),
        ``ConnectionFailed``, ``NoLeaderError`` or ``PoolClosedError``. No retries.
        """
        return self._borrow(endpoint, leader)

    @contextlib.asynccontextmanager
    async def _borrow(
        self, endpoint: endpoint_mod.Endpoint | None, leader: bool
    ) -> AsyncIterator[connection_mod.Connection]:
        target = await self._target(endpoint, leader, frozenset())
        lease = await self._acquire(target)
        try:
            yield lease.conn
        except BaseException as exc:
            await lease.slots.release(lease, exc)
            raise
        await lease.slots.release(lease, None)

    async def _target(
        self,
        endpoint: endpoint_mod.Endpoint | None,
        leader: bool,
        avoid: frozenset[endpoint_mod.Endpoint],
    ) -> endpoint_mod.Endpoint:
        if leader:
            if endpoint is not None:
                raise ValueError("borrow/call take an endpoint or leader=True, not both")
            return await self.leader()
        if endpoint is not None:
            return endpoint
        cached = self._finder.cached
        if cached is not None and cached not in avoid:
            return cached
        seen = self._finder.known()
        candidates = [ep for ep in seen if ep not in avoid] or seen
        for candidate in candidates:
            if self._slots_of(candidate).breaker.allows():
                return candidate
        return candidates[0]  # every breaker is open: the first says when to come back

    def _slots_of(self, endpoint: endpoint_mod.Endpoint) -> slots_mod.Slots:
        slots = self._slots.get(endpoint)
        if slots is None:
            slots = slots_mod.Slots(endpoint, self.config, self._clock, self._ledger)
            self._slots[endpoint] = slots
        return slots

    async def _acquire(self, endpoint: endpoint_mod.Endpoint) -> slots_mod.Lease:
        """A leased connection to ``endpoint``; every failure here is before anything was sent."""
        self._check_open()
        slots = self._slots_of(endpoint)
        if not slots.breaker.allows():
            slots.breaker.admit()  # raises CircuitOpenError, saying when to come back
        await self.prune()
        return await slots.acquire()

    async def prune(self) -> None:
        """Close connections idle longer than ``idle_timeout`` (borrows do this too)."""
        now = self._clock()
        for slots in list(self._slots.values()):
            await slots.prune(now)

    # -- calls with retries -------------------------------------------------------------------

    async def call(
        self,
        method: str,
        /,
        *,
        endpoint: endpoint_mod.Endpoint | None = None,
        leader: bool = False,
        idempotent: bool = True,
        timeout: float | None = None,
        **args: Any,
    ) -> Any:
        """Call Nimbus ``method`` with Storm's parameter names, retrying per the contract above.

        ``timeout`` bounds each attempt's call (default ``call_timeout``).
        """
        limit = self.config.call_timeout if timeout is None else timeout

        async def once(conn: connection_mod.Connection) -> Any:
            return await conn.call(method, limit, **args)

        return await self._attempts(once, endpoint, leader, idempotent)

    async def run(
        self,
        fn: Callable[[connection_mod.Connection], Awaitable[T]],
        *,
        leader: bool,
        idempotent: bool,
        endpoint: endpoint_mod.Endpoint | None = None,
    ) -> T:
        """``fn`` on one borrowed connection, retried from the start per the contract above.

        For operations of several calls (an upload: begin, chunks, finish). A
        ``NotLeaderError`` escaping ``fn`` is taken to mean ``fn`` had no effect
        on any leader, so ``fn`` is run again even when not idempotent.
        """
        return await self._attempts(fn, endpoint, leader, idempotent)

    async def _attempts(
        self,
        fn: Callable[[connection_mod.Connection], Awaitable[T]],
        endpoint: endpoint_mod.Endpoint | None,
        leader: bool,
        idempotent: bool,
    ) -> T:
        if leader and endpoint is not None:
            raise ValueError("borrow/call take an endpoint or leader=True, not both")
        delays = self.config.retry.delays(self._rng)
        avoid: set[endpoint_mod.Endpoint] = set()
        while True:
            target: endpoint_mod.Endpoint | None = None
            sent = False
            try:
                target = await self._target(endpoint, leader, frozenset(avoid))
                lease = await self._acquire(target)
                sent = True
                try:
                    result = await fn(lease.conn)
                except BaseException as exc:
                    await lease.slots.release(lease, exc)
                    raise
                await lease.slots.release(lease, None)
                return result
            except errors.NotLeaderError as exc:
                if endpoint is not None:
                    raise
                error: errors.NimbusError = exc
                named = discovery.parse_endpoint(exc.leader)
                if named is not None and named != target:
                    self.forget_leader(named)
                elif target == self._finder.cached:
                    self.forget_leader()
            except errors.NimbusUnavailable as exc:
                if sent and not idempotent:
                    raise
                error = exc
                if target is not None:
                    avoid.add(target)
                    if target == self._finder.cached:
                        self.forget_leader()
            pause = next(delays, None)
            if pause is None:
                raise error
            await self._sleep(pause)

    # -- lifecycle ----------------------------------------------------------------------------

    def breaker(self, endpoint: endpoint_mod.Endpoint) -> breaker_mod.CircuitBreaker:
        """The circuit breaker of ``endpoint`` (made on first use)."""
        return self._slots_of(endpoint).breaker

    def stats(self) -> PoolStats:
        """Counters per endpoint, the cached leader and how many discoveries ran."""
        return PoolStats(
            endpoints={ep: slots.stats() for ep, slots in self._slots.items()},
            leader=self._finder.cached,
            discoveries=self._finder.discoveries,
        )

    @property
    def closed(self) -> bool:
        return self._ledger.closed

    def _check_open(self) -> None:
        self._ledger.check_open()

    async def close(self, *, grace: float = 0.0) -> None:
        """Close every connection; idempotent. Later borrows raise ``PoolClosedError``.

        Idle connections close at once. Connections in use close after up to
        ``grace`` s, or at once (their users see ``ConnectionFailed``); a second
        ``close()`` with a shorter grace cuts a first one's wait short.
        """
        ledger = self._ledger
        if not ledger.closed:
            ledger.closed = True
            self._finder.close()
        for slots in list(self._slots.values()):
            await slots.close_idle()
        if grace > 0 and ledger.in_use:
            drained = ledger.drained = ledger.drained or asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await drained.wait()
        live, ledger.live = list(ledger.live), set()
        for conn in live:
            await conn.close()
        await self._finder.wait_closed()
