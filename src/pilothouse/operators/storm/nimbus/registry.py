"""``PoolRegistry``: one ``pool.NimbusPool`` per Storm cluster, replaced when its config changes.

A controller manages many clusters over time and their settings change under
it. The registry is the one place that maps a cluster key to its live pool, so
connections and the cached leader are shared by every operation on that
cluster, and a changed ``pool.PoolConfig`` gives a fresh pool instead of
mutating one in use (a pool's config is fixed at creation).

Design choices:

- A pool is replaced, never reconfigured: the old one is retired and closed in
  the background with ``call_timeout`` grace, so calls already running on it
  can finish while new calls go to the new pool.
- Callers take the pool from the registry for each operation rather than
  keeping it: a kept pool may have been replaced and closed
  (``pool.PoolClosedError``).
- ``get`` is synchronous (no awaiting between the lookup and the insert, so two
  callers cannot make two pools for one cluster); call it from the event loop.
- The injected ``clock``, ``rng`` and ``sleep`` are handed to every pool made,
  so tests drive all of them at once.

This module builds on ``pool``; ``pool`` does not import it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from pilothouse.operators.storm.nimbus import pool as pool_mod


class PoolRegistry:
    """One ``NimbusPool`` per cluster key, replaced when that cluster's config changes.

    ``get`` is synchronous (call it from the event loop). A replaced pool is
    closed in the background, giving calls in flight up to its ``call_timeout``
    to finish; ``close()`` stops waiting and closes everything. Take the pool
    from the registry for each operation rather than keeping it: a kept pool
    may have been replaced and closed (``PoolClosedError``).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._sleep = sleep
        self._pools: dict[str, pool_mod.NimbusPool] = {}
        self._retiring: set[pool_mod.NimbusPool] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._closed = False

    def get(self, cluster: str, config: pool_mod.PoolConfig) -> pool_mod.NimbusPool:
        """The pool of ``cluster``; a new one if ``config`` differs from the current one's."""
        if self._closed:
            raise pool_mod.PoolClosedError("the Nimbus pool registry is closed")
        pool = self._pools.get(cluster)
        if pool is not None and pool.config == config and not pool.closed:
            return pool
        if pool is not None:
            self._retire(pool)
        pool = pool_mod.NimbusPool(config, clock=self._clock, rng=self._rng, sleep=self._sleep)
        self._pools[cluster] = pool
        return pool

    def __contains__(self, cluster: object) -> bool:
        return cluster in self._pools

    async def remove(self, cluster: str) -> None:
        """Drop ``cluster``'s pool and close it (in-flight calls get ``call_timeout`` grace)."""
        pool = self._pools.pop(cluster, None)
        if pool is not None:
            await pool.close(grace=pool.config.call_timeout)

    def _retire(self, pool: pool_mod.NimbusPool) -> None:
        self._retiring.add(pool)
        task = asyncio.get_running_loop().create_task(pool.close(grace=pool.config.call_timeout))
        self._closers.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._closers.discard(finished)
            self._retiring.discard(pool)
            if not finished.cancelled():
                finished.exception()

        task.add_done_callback(done)

    async def close(self) -> None:
        """Close every pool, retiring ones included, without grace; idempotent."""
        self._closed = True
        pools = [*self._pools.values(), *self._retiring]
        self._pools.clear()
        for pool in pools:
            await pool.close()
        await asyncio.gather(*self._closers, return_exceptions=True)
