"""Leader discovery for one cluster's Nimbus pool: who leads, found once for all callers.

``LeaderFinder`` holds what a pool knows about leadership: the cached leader,
every Nimbus seen so far (the seeds first, then those named in answers), and the
discovery in flight. ``pool.NimbusPool`` owns one and asks it for the leader.

Discovery asks, one at a time, the seeds and then every other Nimbus seen in
earlier answers: ``getLeader()``, or, when that fails with an answer (no leader
yet, an old Nimbus) or names no leader, ``getClusterInfo().nimbuses`` for the
one with ``isLeader``. The first reachable Nimbus that names a leader wins, and
that address is used even if it is not a seed. Asking in order (not all at
once) keeps discovery cheap and predictable; the pool's breakers make dead seeds
fail fast. When nobody answers, ``NoLeaderError`` lists each Nimbus asked and
why it did not help.

Single flight: concurrent callers share one discovery task, shielded so that a
caller that gives up (is cancelled) does not stop it for the others; its answer
is cached. ``forget(hint)`` drops the cache; with a hint (the address a
``NotLeaderError`` names) the hint becomes the leader without a round trip, and
is forgotten again at its first failure. A hint starts a new epoch, so a
discovery already in flight cannot overwrite it with an older answer.

Design: the finder opens no connections of its own. It borrows through the
``borrow`` callable the pool passes in (the pool's ``borrow``), so its asks share
the pool's connection slots and circuit breakers. ``pool`` imports this module,
so this module does not import ``pool``: the pool's ``PoolClosedError`` class is
passed in as ``closed_error``. Like the pool, the finder belongs to one event
loop and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from pilothouse.operators.storm.nimbus import connection as connection_mod
from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import errors

#: How the finder gets a connection to one Nimbus (``NimbusPool.borrow``).
Borrow = Callable[
    [endpoint_mod.Endpoint], contextlib.AbstractAsyncContextManager[connection_mod.Connection]
]


class LeaderFinder:
    """The cached leader, the Nimbuses seen, and the one discovery in flight.

    ``timeout`` bounds each ``getLeader``/``getClusterInfo`` call of a discovery.
    """

    def __init__(
        self,
        seeds: Iterable[endpoint_mod.Endpoint],
        borrow: Borrow,
        *,
        timeout: float,
        closed_error: type[errors.NimbusError],
    ) -> None:
        self._borrow = borrow
        self._timeout = timeout
        self._closed_error = closed_error
        self._leader: endpoint_mod.Endpoint | None = None
        self._seen: dict[endpoint_mod.Endpoint, None] = dict.fromkeys(seeds)
        self._epoch = 0
        self._discovery: asyncio.Task[endpoint_mod.Endpoint] | None = None
        self._tasks: set[asyncio.Task[endpoint_mod.Endpoint]] = set()
        self._discoveries = 0
        self._closed = False

    @property
    def cached(self) -> endpoint_mod.Endpoint | None:
        """The leader as last found or hinted, without asking anyone."""
        return self._leader

    @property
    def discoveries(self) -> int:
        """How many discoveries ran (for stats)."""
        return self._discoveries

    def known(self) -> list[endpoint_mod.Endpoint]:
        """Every Nimbus seen so far, in the order first seen (the seeds first)."""
        return list(self._seen)

    async def leader(self) -> endpoint_mod.Endpoint:
        """The leader: cached, else discovered (one discovery for all callers)."""
        if self._leader is not None:
            return self._leader
        task = self._discovery
        if task is None:
            task = asyncio.get_running_loop().create_task(self._discover(self._epoch))
            self._discovery = task
            self._tasks.add(task)
            task.add_done_callback(self._discovery_done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            # The shared discovery was cancelled by close(), not this caller.
            if task.cancelled() and current is not None and not current.cancelling():
                raise self._closed_error(
                    "the Nimbus pool was closed during leader discovery"
                ) from None
            raise

    def forget(self, hint: endpoint_mod.Endpoint | str | None = None) -> None:
        """Drop the cached leader; a ``hint`` ("host:port" or an Endpoint) becomes the new one.

        Without a hint, a discovery already running is kept (and its answer
        cached): it asks afresh, so starting another would only add load. An
        unparsable hint is ignored.
        """
        self._leader = None
        if isinstance(hint, str):
            hint = parse_endpoint(hint)
        if hint is not None:
            # A discovery in flight must not overwrite the hint with an older answer.
            self._epoch += 1
            self._discovery = None
            self._leader = hint
            self._seen.setdefault(hint, None)

    def close(self) -> None:
        """Cancel the discoveries in flight; their waiters get ``closed_error``."""
        self._closed = True
        self._discovery = None
        for task in self._tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until every cancelled discovery has finished."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _discovery_done(self, task: asyncio.Task[endpoint_mod.Endpoint]) -> None:
        self._tasks.discard(task)
        if self._discovery is task:
            self._discovery = None
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have been cancelled

    async def _discover(self, epoch: int) -> endpoint_mod.Endpoint:
        self._discoveries += 1
        tried: list[str] = []
        for candidate in list(self._seen):
            try:
                found = await self._ask(candidate)
            except errors.NimbusError as exc:
                if isinstance(exc, self._closed_error):
                    raise
                tried.append(f"{candidate}: {exc}")
                continue
            if isinstance(found, str):
                tried.append(f"{candidate}: {found}")
                continue
            self._seen.setdefault(found, None)
            if epoch == self._epoch and not self._closed:
                self._leader = found
            return found
        raise errors.NoLeaderError("no Nimbus leader found; asked " + "; ".join(tried))

    async def _ask(self, candidate: endpoint_mod.Endpoint) -> endpoint_mod.Endpoint | str:
        """The leader ``candidate`` names, or why it names none."""
        async with self._borrow(candidate) as conn:
            try:
                answer = await conn.call("getLeader", self._timeout)
                why = "getLeader named no leader"
            except errors.NimbusRejected as exc:
                answer, why = None, f"getLeader: {exc}"  # no leader yet, or an old Nimbus
            leader = _address(answer)
            if leader is not None and answer.isLeader:
                return leader
            info = await conn.call("getClusterInfo", self._timeout)
            found: endpoint_mod.Endpoint | None = None
            for nimbus in info.nimbuses or ():
                address = _address(nimbus)
                if address is not None:
                    self._seen.setdefault(address, None)
                    if nimbus.isLeader and found is None:
                        found = address
            return found or f"{why}, and getClusterInfo lists no leader"


def parse_endpoint(address: str | None) -> endpoint_mod.Endpoint | None:
    """``address`` ("host:port") as an Endpoint; None when empty or unparsable."""
    if not address:
        return None
    try:
        return endpoint_mod.Endpoint.parse(address)
    except ValueError:
        return None


def _address(summary: Any) -> endpoint_mod.Endpoint | None:
    host, port = getattr(summary, "host", None), getattr(summary, "port", None)
    if not host or not isinstance(port, int) or not 0 < port < 65536:
        return None
    return endpoint_mod.Endpoint(host, port)
