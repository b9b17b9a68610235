"""One endpoint's connections in a Nimbus pool: a bounded set, reused, aged out, checked on borrow.

``pool.NimbusPool`` keeps one ``Slots`` per Nimbus endpoint and decides which
endpoint to borrow from, when to retry and how to shut down; this module holds
what happens at a single endpoint once it is chosen. It is split out so the
pool reads as borrowing and retry policy, and the connection bookkeeping
(counters, slot semaphore, idle list, the breaker of the endpoint) lives in one
place. The ``Ledger`` is the little a pool's endpoints share: connections open
anywhere, connections lent out, and whether the pool was closed.

- At most ``max_connections`` per endpoint are open or being opened; further
  borrowers queue (FIFO) and give up after ``connect_timeout`` s with
  ``CallTimeout``. Idle connections are reused last-in first-out, so a quiet
  period lets the surplus age out.
- Idle connections older than ``idle_timeout`` s are closed by ``prune``.
  There is no background task: the pool sweeps every endpoint on every borrow
  and on ``NimbusPool.prune()``, so a pool that sees no traffic at all keeps its
  sockets until the next use or ``close()``.
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

Like the pool, everything here belongs to one event loop and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Protocol

from pilothouse.operators.storm.nimbus import breaker as breaker_mod
from pilothouse.operators.storm.nimbus import connection as connection_mod
from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import errors


class SlotsConfig(Protocol):
    """The limits ``Slots`` reads (``pool.PoolConfig`` has them all)."""

    @property
    def max_connections(self) -> int: ...
    @property
    def idle_timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def call_timeout(self) -> float: ...
    @property
    def health_check_after(self) -> float: ...
    @property
    def max_frame(self) -> int: ...
    @property
    def breaker(self) -> breaker_mod.BreakerConfig: ...


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


class Ledger:
    """What all endpoints of one pool share: open connections, the lent count, closing.

    ``closed_error`` is the pool's error for use after ``close()``.
    """

    def __init__(self, closed_error: type[errors.NimbusError]) -> None:
        self.closed_error = closed_error
        self.closed = False
        self.live: set[connection_mod.Connection] = set()
        self.in_use = 0
        self.drained: asyncio.Event | None = None  # made by a closing pool that waits

    def check_open(self) -> None:
        if self.closed:
            raise self.closed_error("the Nimbus pool is closed; get a new one from the registry")


@dataclasses.dataclass
class Lease:
    """A connection lent out of ``slots``, and its breaker admission; give it to ``release``."""

    slots: Slots
    conn: connection_mod.Connection
    admission: breaker_mod.Admission


class Slots:
    """One endpoint's connections, slot semaphore, breaker and counters."""

    def __init__(
        self,
        endpoint: endpoint_mod.Endpoint,
        config: SlotsConfig,
        clock: Callable[[], float],
        ledger: Ledger,
    ) -> None:
        self.endpoint = endpoint
        self._config = config
        self._clock = clock
        self._ledger = ledger
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

    async def acquire(self) -> Lease:
        """Wait for a free slot, then a connection (idle or new); nothing was sent on failure.

        The caller checks the breaker and prunes first.
        """
        config = self._config
        self.waiting += 1
        try:
            async with asyncio.timeout(config.connect_timeout):
                await self.free.acquire()
        except TimeoutError:
            raise errors.CallTimeout(
                f"no free connection to Nimbus {self.endpoint} within {config.connect_timeout:g}s:"
                f" all {config.max_connections} are in use"
            ) from None
        finally:
            self.waiting -= 1
        self._take()
        try:
            self._ledger.check_open()
            admission = self.breaker.admit()
        except BaseException:
            self._give_back()
            raise
        try:
            conn = await self._connection()
        except BaseException as exc:
            admission.outcome(exc)
            self._give_back()
            raise
        return Lease(self, conn, admission)

    def _take(self) -> None:
        ledger = self._ledger
        self.in_use += 1
        self.peak_in_use = max(self.peak_in_use, self.in_use)
        ledger.in_use += 1
        if ledger.drained is not None:
            ledger.drained.clear()

    def _give_back(self) -> None:
        ledger = self._ledger
        self.in_use -= 1
        ledger.in_use -= 1
        self.free.release()
        if ledger.in_use == 0 and ledger.drained is not None:
            ledger.drained.set()

    async def _connection(self) -> connection_mod.Connection:
        while self.idle:
            conn, since = self.idle.pop()  # LIFO: the surplus at the bottom ages out
            if conn.broken:
                await self.discard(conn)
                continue
            stale = self._clock() - since > self._config.health_check_after
            if stale and not await self._healthy(conn):
                continue
            self.reused += 1
            return conn
        conn = await connection_mod.Connection.open(
            self.endpoint, timeout=self._config.connect_timeout, max_frame=self._config.max_frame
        )
        self.opened += 1
        self._ledger.live.add(conn)
        if self._ledger.closed:
            # close() ran while we were connecting; it could not see this connection.
            await self.discard(conn)
            raise self._ledger.closed_error("the Nimbus pool was closed")
        return conn

    async def _healthy(self, conn: connection_mod.Connection) -> bool:
        self.health_checks += 1
        timeout = min(self._config.connect_timeout, self._config.call_timeout)
        try:
            await conn.call("getLeader", timeout)
        except (errors.NimbusRejected, errors.NotLeaderError):
            pass  # an answer: the connection works
        except BaseException as exc:
            self.health_check_failures += 1
            await self.discard(conn)
            if isinstance(exc, errors.NimbusError):
                return False
            raise
        if conn.broken:
            self.health_check_failures += 1
            await self.discard(conn)
            return False
        return True

    async def release(self, lease: Lease, exc: BaseException | None) -> None:
        """Return ``lease``: kept idle for reuse, or closed if broken or the pool is closed."""
        lease.admission.outcome(exc)
        conn = lease.conn
        # Bookkeeping first, without awaiting: a second cancellation must not leak the slot.
        self._give_back()
        if conn.broken or self._ledger.closed or isinstance(exc, errors.ProtocolError):
            await self.discard(conn)
        else:
            self.idle.append((conn, self._clock()))

    async def discard(self, conn: connection_mod.Connection) -> None:
        """Close ``conn`` (counted once, however often it is discarded)."""
        if conn in self._ledger.live:
            self._ledger.live.discard(conn)
            self.closed += 1
        await conn.close()

    async def prune(self, now: float) -> None:
        """Close the connections idle longer than ``idle_timeout`` at ``now``."""
        deadline = now - self._config.idle_timeout
        stale = [conn for conn, since in self.idle if since < deadline]
        if stale:
            self.idle = [(conn, since) for conn, since in self.idle if since >= deadline]
            for conn in stale:
                await self.discard(conn)

    async def close_idle(self) -> None:
        """Close every idle connection (the pool is closing)."""
        idle, self.idle = self.idle, []
        for conn, _ in idle:
            await self.discard(conn)
