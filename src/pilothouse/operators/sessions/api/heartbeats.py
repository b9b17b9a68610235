"""Heartbeat coalescing: at most one ``status.lastActivity`` write per session per interval.

Clients may heartbeat as often as they like; each write of a Session's status costs the
API server a write and a watch event for every watcher, so heartbeats are folded in
memory and written by a background flusher.

Guarantees (per session, for one API process):

* **Rate.** Two writes of a session's ``lastActivity`` are at least ``interval`` apart, so
  over any span of ``d`` seconds there are at most ``ceil(d / interval) + 1`` writes,
  whatever the heartbeat rate.
* **Freshness.** A heartbeat after a quiet period (no write in the last ``interval``) is
  written at once (by the flusher, not in the request); a heartbeat inside the interval is
  written at the end of it. So the status lags the latest heartbeat by at most
  ``interval`` (plus the write's own latency).
* **Latest wins, never backwards.** A write carries the newest heartbeat time seen so far;
  an older time (a late request) never replaces a newer one.
* The heartbeat request itself only touches memory: its latency does not depend on the
  API server.

Caveats: the pending times live in memory, so a crash loses at most the last ``interval``
of activity (the controller's idle grace period covers far more than that); several API
replicas each keep their own interval, so N replicas may write N times per interval. A
write that fails (other than the session being gone, which drops it) is retried one
interval later.

:class:`Coalescer` holds the decisions and takes the time as an argument (tests drive it
with a fake clock); :class:`HeartbeatFlusher` runs it on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Coalescer", "HeartbeatFlusher", "Key", "Write"]

log = logging.getLogger(__name__)

#: A session: (namespace, name).
Key = tuple[str, str]
#: Writes ``lastActivity`` of a session; raising ``LookupError`` means the session is gone.
Write = Callable[[Key, datetime], Awaitable[None]]


@dataclass(slots=True)
class _Entry:
    latest: datetime | None = None
    """The newest heartbeat not yet written (None when nothing is pending)."""
    last_write: float | None = None
    """The (monotonic) time of the last write."""
    due: float | None = None
    """When the pending heartbeat is to be written (None: not scheduled)."""


@dataclass
class Coalescer:
    """The pure part: what to write and when (times are monotonic seconds)."""

    interval: float
    _entries: dict[Key, _Entry] = field(default_factory=dict)
    _heap: list[tuple[float, Key]] = field(default_factory=list)

    def record(self, key: Key, when: datetime, now: float) -> float | None:
        """Note a heartbeat of ``key`` at wall time ``when``. Returns the time its write is
        due if this heartbeat scheduled one (the flusher may have to wake earlier), else
        None (a write was already scheduled, and will carry this time)."""
        entry = self._entries.setdefault(key, _Entry())
        if entry.latest is None or when > entry.latest:
            entry.latest = when
        if entry.due is not None:
            return None
        if entry.last_write is None or now - entry.last_write >= self.interval:
            entry.due = now
        else:
            entry.due = entry.last_write + self.interval
        heapq.heappush(self._heap, (entry.due, key))
        return entry.due

    def next_due(self) -> float | None:
        """When the earliest pending write is due (None when nothing is pending)."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[Key, datetime]]:
        """The writes due at ``now``, each marked as written at ``now``."""
        out: list[tuple[Key, datetime]] = []
        while self._heap and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            # A heap item outlives a forgotten entry: only the entry's own due time counts.
            if entry is None or entry.due != at or entry.latest is None:
                continue
            out.append((key, entry.latest))
            entry.latest, entry.due, entry.last_write = None, None, now
        return out

    def pop_all(self) -> list[tuple[Key, datetime]]:
        """Every pending write, whatever its due time (at shutdown)."""
        out = [(k, e.latest) for k, e in self._entries.items() if e.latest is not None]
        self._entries.clear()
        self._heap.clear()
        return out

    def retry(self, key: Key, when: datetime, now: float) -> None:
        """A write of ``when`` failed: schedule it again one interval from now (unless a
        newer heartbeat is already pending, which will be written instead)."""
        entry = self._entries.setdefault(key, _Entry())
        entry.last_write = now
        self.record(key, when, now)

    def forget(self, key: Key) -> None:
        """Drop ``key`` (its session is gone); a stale heap item is skipped later."""
        self._entries.pop(key, None)

    def expire(self, now: float) -> None:
        """Forget sessions quiet for more than an interval: their next heartbeat is
        written at once anyway, so their entries only cost memory."""
        stale = [
            k
            for k, e in self._entries.items()
            if e.due is None and (e.last_write is None or now - e.last_write >= self.interval)
        ]
        for k in stale:
            del self._entries[k]

    def pending(self, key: Key) -> datetime | None:
        entry = self._entries.get(key)
        return entry.latest if entry is not None else None


class HeartbeatFlusher:
    """Runs a :class:`Coalescer`: :meth:`record` from requests, writes from one task."""

    def __init__(
        self,
        write: Write,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_concurrent_writes: int = 32,
    ) -> None:
        if interval <= 0:
            raise ValueError("the heartbeat interval must be positive")
        self.coalescer = Coalescer(interval)
        self.writes = 0
        self._write = write
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._limit = asyncio.Semaphore(max_concurrent_writes)

    def record(self, key: Key, when: datetime) -> None:
        """Note a heartbeat (memory only; never waits)."""
        if self.coalescer.record(key, when, self._clock()) is not None:
            # A new write was scheduled, possibly before the one the flusher sleeps for.
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeat-flusher")

    async def stop(self) -> None:
        """Stop the task and write whatever is pending (best effort)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(self._one(k, t, final=True) for k, t in self.coalescer.pop_all()))

    async def _run(self) -> None:
        while True:
            now = self._clock()
            due = self.coalescer.pop_due(now)
            if due:
                await asyncio.gather(*(self._one(k, t) for k, t in due))
                self.coalescer.expire(now)
                continue
            self._wake.clear()
            nxt = self.coalescer.next_due()
            timeout = None if nxt is None else max(0.0, nxt - self._clock())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the wait completes, and the flusher must stop when told.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _one(self, key: Key, when: datetime, final: bool = False) -> None:
        async with self._limit:
            try:
                self.writes += 1
                await self._write(key, when)
            except LookupError:
                self.coalescer.forget(key)
            except Exception:
                log.warning("writing lastActivity of %s/%s failed", *key, exc_info=True)
                if not final:
                    self.coalescer.retry(key, when, self._clock())
