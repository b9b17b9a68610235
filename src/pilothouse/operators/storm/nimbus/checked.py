"""Non-idempotent Nimbus calls made safe to try again: ask Nimbus before repeating one.

``submit``, ``kill`` and ``rebalance`` (``client.NimbusClient``) are not safe to repeat
blindly. The pool raises at once when such a call fails in a way that leaves open
whether Nimbus ran it (``ConnectionFailed`` or ``CallTimeout`` after the request was
written); ``run`` then asks Nimbus what happened (``done``) and calls again only if it
did not, within the pool's retry policy:

- a submit whose topology now exists, and started after our first attempt, is done
  (``submitted``); an ``AlreadyAlive`` answer to a *repeated* submit is then success,
  not an error (``repeatable_submit``);
- a kill whose topology is KILLED or gone is done (``killed``);
- a rebalance whose topology is REBALANCING is done (``rebalancing``).

Failures before the request was written (refused connections, an open circuit, "not a
leader") never reach ``run``: the pool retries those at once.

Caveats: a submit is recognised as "ours" by its name and its launch time. Two writers
submitting the same name at the same moment could each believe the topology is theirs;
Storm serialises them (one gets AlreadyAlive), and the controllers never do it. A
rebalance with a short wait may already be over when the check looks; it is then made
once more, which asks for the same layout again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from pilothouse.operators.storm.nimbus import errors, model, retry

#: The topology called ``name`` as Nimbus lists it now, or None.
Lookup = Callable[[str], Awaitable[model.TopologySummary | None]]
#: Whether the call whose outcome was lost happened after all.
Done = Callable[[], Awaitable[bool]]
Call = Callable[[], Awaitable[object]]


async def run(call: Call, done: Done, policy: retry.RetryPolicy, rng: random.Random) -> None:
    """Make a non-idempotent ``call``; after an ambiguous failure, ``done`` decides whether
    it happened before it is made again (at most ``policy.attempts`` times in all)."""
    for attempt in range(policy.attempts):
        try:
            await call()
            return
        except (errors.ConnectionFailed, errors.CallTimeout):
            if attempt + 1 >= policy.attempts:
                raise
            if await done():
                return
            await asyncio.sleep(policy.delay(attempt, rng))


def killed(lookup: Lookup, name: str) -> Done:
    async def done() -> bool:
        summary = await lookup(name)
        return summary is None or summary.status == model.TopologyStatus.KILLED

    return done


def rebalancing(lookup: Lookup, name: str) -> Done:
    async def done() -> bool:
        summary = await lookup(name)
        return summary is not None and summary.status == model.TopologyStatus.REBALANCING

    return done


def submitted(lookup: Lookup, name: str, clock: Callable[[], float]) -> Done:
    """Done once ``name`` is listed with an uptime no longer than the time since now."""
    started = clock()

    async def done() -> bool:
        summary = await lookup(name)
        # Ours only if it started after our first attempt (uptime is whole seconds).
        return summary is not None and summary.uptime_secs <= clock() - started + 1

    return done


def repeatable_submit(call: Call, done: Done) -> Call:
    """``call``, where ``AlreadyAlive`` on a repeat means the lost first attempt worked.

    On the first attempt ``AlreadyAlive`` is the caller's error (the name is taken).
    """
    first = True

    async def attempt() -> None:
        nonlocal first
        try:
            await call()
        except errors.AlreadyAliveError:
            if first or not await done():
                raise
        finally:
            first = False

    return attempt
