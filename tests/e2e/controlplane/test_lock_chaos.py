"""Lock clients against a 3-replica control plane whose replicas are SIGKILLed and restarted
(now and then SIGSTOPped past the lock TTL instead) over and over, one down at a time; the
recorded history must be a correct lock service's (pilothouse.testing.lockhistory): no two
holders at once, fencing tokens that only grow, no acknowledged grant lost."""

from __future__ import annotations

import asyncio
import collections
import functools
import random
import time
from collections.abc import Iterator

import pytest

from pilothouse.controlplane.client import ControlPlaneClient
from pilothouse.controlplane.statemodel import LockInfo
from pilothouse.testing.controlplane import ControlPlaneCluster
from pilothouse.testing.lockhistory import History, Op, Outcome, assert_valid

CLIENTS = 5
REFS = ("chaos-a", "chaos-b", "chaos-c")
TTL = 2
DURATION = 20.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneCluster]:
    c = ControlPlaneCluster(tmp_path_factory.mktemp("chaos"), 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


async def lock_client(
    name: str,
    endpoints: list[str],
    history: History,
    stop: asyncio.Event,
    seed: int,
    retry_timeout: float,
) -> None:
    """Acquire a random ref, renew it a few times, release it (or abandon it to expire);
    a fresh owner for every acquire, as the checker requires."""
    rnd = random.Random(seed)
    attempt = 0
    async with ControlPlaneClient(endpoints, timeout=1.0, retry_timeout=retry_timeout) as client:
        while not stop.is_set():
            ref, attempt = rnd.choice(REFS), attempt + 1
            owner = f"{name}-{attempt}"
            got: LockInfo | None = await history.call(
                name,
                Op.ACQUIRE,
                ref,
                functools.partial(client.acquire_lock, ref, owner, TTL),
                owner=owner,
                ttl=TTL,
            )
            if got is None:
                await asyncio.sleep(rnd.uniform(0.05, 0.3))  # pacing, not waiting
                continue
            token = got.token
            for _ in range(rnd.randint(0, 3)):
                await asyncio.sleep(rnd.uniform(0.1, 0.6))  # "work" while holding
                renewed = await history.call(
                    name,
                    Op.RENEW,
                    ref,
                    functools.partial(client.renew_lock, ref, owner, token),
                    owner=owner,
                    token=token,
                )
                if renewed is None or stop.is_set():
                    break
            if rnd.random() < 0.9:
                await history.call(
                    name,
                    Op.RELEASE,
                    ref,
                    functools.partial(client.release_lock, ref, owner, token),
                    owner=owner,
                    token=token,
                )
            # else: abandoned, it expires by itself


def chaos(cluster: ControlPlaneCluster, stop_at: float, seed: int) -> list[str]:
    """SIGKILL a replica (often the etcd leader) and restart it -- or, now and then,
    SIGSTOP it for longer than the lock TTL and SIGCONT it -- until ``stop_at``; never more
    than one replica down. Runs in a thread: the harness is synchronous."""
    rnd = random.Random(seed)
    done: list[str] = []
    while time.monotonic() < stop_at:
        victim = cluster.etcd_leader() if rnd.random() < 0.5 else rnd.choice(list(cluster.replicas))
        if rnd.random() < 0.2:
            cluster.pause(victim)
            time.sleep(rnd.uniform(TTL, TTL + 1.0))  # frozen past every lease it granted
            cluster.resume(victim)
            done.append(f"{victim} paused")
        else:
            cluster.kill(victim)
            time.sleep(rnd.uniform(0.3, 1.5))  # how long it stays down: the chaos itself
            t0 = time.monotonic()
            cluster.restart(victim)
            done.append(f"{victim} killed (restarted in {time.monotonic() - t0:.1f}s)")
        time.sleep(rnd.uniform(0.3, 1.0))  # and up, before the next failure
    return done


@pytest.mark.timeout(150)
async def test_locks_stay_correct_while_replicas_are_killed(cluster: ControlPlaneCluster) -> None:
    seed = random.randrange(2**32)
    print(f"\nchaos seed {seed}")
    history = History()
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(
            # Some clients give up early: calls with unknown outcomes are part of the test.
            lock_client(f"c{i}", cluster.endpoints, history, stop, seed + i, 1.0 + 2.0 * (i % 2))
        )
        for i in range(CLIENTS)
    ]
    try:
        injected = await asyncio.to_thread(chaos, cluster, time.monotonic() + DURATION, seed)
    finally:
        stop.set()
        results = await asyncio.gather(*clients, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures

    counts = collections.Counter((e.op.value, e.outcome.value) for e in history.events)
    print(f"chaos: {', '.join(injected)}")
    print(f"{len(history.events)} calls: {dict(sorted(counts.items()))}")
    assert_valid(history.events)
    # The run must have exercised something: failures, grants, renewals, hand-overs.
    assert len(injected) >= 4
    assert counts["acquire", "ok"] >= 20
    assert counts["renew", "ok"] >= 10
    tokens = {e.token for e in history.events if e.op is Op.ACQUIRE and e.outcome is Outcome.OK}
    assert len(tokens) >= 20
