"""The per-cluster Nimbus connection pool: finds the leader, reuses connections, retries safely.

One ``NimbusPool`` per Storm cluster (``registry.PoolRegistry`` keeps them per
cluster key). It owns every connection to that cluster's Nimbus daemons, a
circuit breaker per endpoint (``breaker``), the leader finder (``discovery``),
and the retry loop (``retry`` says how long to wait; this module says *whether*
to try again).

Connections (``borrow``):

- At most ``max_connections`` per endpoint are open or being opened; further
  borrowers queue (FIFO) and give up after ``connect_timeout`` s with
  ``CallTimeout``. Idle connections are reused last-in first-out, so a quiet
  period lets the surplus age out.
- Idle connections older than ``idle_timeout`` s are closed. There is no
  background task: the sweep runs on every borrow (all endpoints) and on
  ``prune()``, so a pool that sees no traffic at all keeps its sockets until
  the next use or ``close()``.
- A connection idle longer than ``health_check_after`` s is checked before it
  is handed out, with a ``getLeader`` call bounded by
  ``min(connect_timeout, call_timeout)``: a real round trip, so it also
  catches a peer that vanished without closing (a reset pod, a partition),
  which an end-of-stream check would miss; the price is one cheap read per
  borrow after a quiet spell. Any Thrift answer, even an error, means healthy.
  A failed check closes that connection and takes the next (or a new) one; it
  is not held against the endpoint's breaker (a restart closes idle
  connections of a healthy Nimbus).
- A broken connection (``Connection.broken``: timeout, transport failure,
  cancellation) or one whose user saw a ``ProtocolError`` is closed on return,
  never reused.
- All times come from the injected ``clock``; ``Connection.last_used`` (real
  time) is not consulted.

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
class EndpointStats:
    """Counters of one endpoint (cumulative except ``in_use``, ``idle``, ``waiting``)."""

    opened: int
    reused: int
    closed: int
    in_use: int
    idle: int
    waiting: int
    peak_in_use: int
    health_checks: int
    health_check_failures: int
    breaker: breaker_mod.BreakerState


@dataclasses.dataclass(frozen=True)
class PoolStats:
    """A snapshot of the pool, per endpoint, for tests and metrics."""

    endpoints: Mapping[endpoint_mod.Endpoint, EndpointStats]
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


class _Slots:
    """One endpoint's connections, slot semaphore, breaker and counters."""

    def __init__(
        self, endpoint: endpoint_mod.Endpoint, config: PoolConfig, clock: Callable[[], float]
    ) -> None:
        self.endpoint = endpoint
        self.breaker = breaker_mod.CircuitBreaker(config.breaker, clock, endpoint=str(endpoint))
        self.free = asyncio.Semaphore(config.max_connections)
        self.idle: list[tuple[connection_mod.Connection, float]] = []
        self.in_use = self.waiting = self.peak_in_use = 0
        self.opened = self.reused = self.closed = 0
        self.health_checks = self.health_check_failures = 0

    def stats(self) -> EndpointStats:
        return EndpointStats(
            opened=self.opened,
            reused=self.reused,
            closed=self.closed,
            in_use=self.in_use,
            idle=len(self.idle),
            waiting=self.waiting,
            peak_in_use=self.peak_in_use,
            health_checks=self.health_checks,
            health_check_failures=self.health_check_failures,
            breaker=self.breaker.state,
        )


@dataclasses.dataclass
class _Lease:
    slots: _Slots
    conn: connection_mod.Connection
    admission: breaker_mod.Admission


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
        self._slots: dict[endpoint_mod.Endpoint, _Slots] = {}
        self._live: set[connection_mod.Connection] = set()
        self._in_use = 0
        self._drained: asyncio.Event | None = None
        self._finder = discovery.LeaderFinder(
            config.seeds,
            self.borrow,
            timeout=min(config.connect_timeout, config.call_timeout),
            closed_error=PoolClosedError,
        )
        self._closed = False

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
            await self._release(lease, exc)
            raise
        await self._release(lease, None)

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

    def _slots_of(self, endpoint: endpoint_mod.Endpoint) -> _Slots:
        slots = self._slots.get(endpoint)
        if slots is None:
            slots = self._slots[endpoint] = _Slots(endpoint, self.config, self._clock)
        return slots

    async def _acquire(self, endpoint: endpoint_mod.Endpoint) -> _Lease:
        """A leased connection to ``endpoint``; every failure here is before anything was sent."""
        self._check_open()
        slots = self._slots_of(endpoint)
        if not slots.breaker.allows():
            slots.breaker.admit()  # raises CircuitOpenError, saying when to come back
        await self.prune()
        slots.waiting += 1
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await slots.free.acquire()
        except TimeoutError:
            raise errors.CallTimeout(
                f"no free connection to Nimbus {endpoint} within {self.config.connect_timeout:g}s:"
                f" all {self.config.max_connections} are in use"
            ) from None
        finally:
            slots.waiting -= 1
        self._take(slots)
        try:
            self._check_open()
            admission = slots.breaker.admit()
        except BaseException:
            self._give_back(slots)
            raise
        try:
            conn = await self._connection(slots)
        except BaseException as exc:
            admission.outcome(exc)
            self._give_back(slots)
            raise
        return _Lease(slots, conn, admission)

    def _take(self, slots: _Slots) -> None:
        slots.in_use += 1
        slots.peak_in_use = max(slots.peak_in_use, slots.in_use)
        self._in_use += 1
        if self._drained is not None:
            self._drained.clear()

    def _give_back(self, slots: _Slots) -> None:
        slots.in_use -= 1
        self._in_use -= 1
        slots.free.release()
        if self._in_use == 0 and self._drained is not None:
            self._drained.set()

    async def _connection(self, slots: _Slots) -> connection_mod.Connection:
        while slots.idle:
            conn, since = slots.idle.pop()  # LIFO: the surplus at the bottom ages out
            if conn.broken:
                await self._discard(slots, conn)
                continue
            stale = self._clock() - since > self.config.health_check_after
            if stale and not await self._healthy(slots, conn):
                continue
            slots.reused += 1
            return conn
        conn = await connection_mod.Connection.open(
            slots.endpoint, timeout=self.config.connect_timeout, max_frame=self.config.max_frame
        )
        slots.opened += 1
        self._live.add(conn)
        if self._closed:
            # close() ran while we were connecting; it could not see this connection.
            await self._discard(slots, conn)
            raise PoolClosedError("the Nimbus pool was closed")
        return conn

    async def _healthy(self, slots: _Slots, conn: connection_mod.Connection) -> bool:
        slots.health_checks += 1
        timeout = min(self.config.connect_timeout, self.config.call_timeout)
        try:
            await conn.call("getLeader", timeout)
        except (errors.NimbusRejected, errors.NotLeaderError):
            pass  # an answer: the connection works
        except BaseException as exc:
            slots.health_check_failures += 1
            await self._discard(slots, conn)
            if isinstance(exc, errors.NimbusError):
                return False
            raise
        if conn.broken:
            slots.health_check_failures += 1
            await self._discard(slots, conn)
            return False
        return True

    async def _release(self, lease: _Lease, exc: BaseException | None) -> None:
        lease.admission.outcome(exc)
        slots, conn = lease.slots, lease.conn
        # Bookkeeping first, without awaiting: a second cancellation must not leak the slot.
        self._give_back(slots)
        if conn.broken or self._closed or isinstance(exc, errors.ProtocolError):
            await self._discard(slots, conn)
        else:
            slots.idle.append((conn, self._clock()))

    async def _discard(self, slots: _Slots, conn: connection_mod.Connection) -> None:
        if conn in self._live:
            self._live.discard(conn)
            slots.closed += 1
        await conn.close()

    async def prune(self) -> None:
        """Close connections idle longer than ``idle_timeout`` (borrows do this too)."""
        deadline = self._clock() - self.config.idle_timeout
        for slots in list(self._slots.values()):
            stale = [conn for conn, since in slots.idle if since < deadline]
            if stale:
                slots.idle = [(conn, since) for conn, since in slots.idle if since >= deadline]
                for conn in stale:
                    await self._discard(slots, conn)

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
                    await self._release(lease, exc)
                    raise
                await self._release(lease, None)
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
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError("the Nimbus pool is closed; get a new one from the registry")

    async def close(self, *, grace: float = 0.0) -> None:
        """Close every connection; idempotent. Later borrows raise ``PoolClosedError``.

        Idle connections close at once. Connections in use close after up to
        ``grace`` s, or at once (their users see ``ConnectionFailed``); a second
        ``close()`` with a shorter grace cuts a first one's wait short.
        """
        if not self._closed:
            self._closed = True
            self._finder.close()
        for slots in list(self._slots.values()):
            idle, slots.idle = slots.idle, []
            for conn, _ in idle:
                await self._discard(slots, conn)
        if grace > 0 and self._in_use:
            self._drained = self._drained or asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._drained.wait()
        live, self._live = list(self._live), set()
        for conn in live:
            await conn.close()
        await self._finder.wait_closed()
