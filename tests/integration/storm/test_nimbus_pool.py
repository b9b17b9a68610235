"""The Nimbus pool over real TCP against scriptable fakes: reuse, health, leader, retry, breaker."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import breaker, endpoint, errors, idl, pool, retry
from pilothouse.operators.storm.nimbus import registry as registry_mod
from pilothouse.testing import eventually, thriftfake


class Clock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """An injected ``sleep`` that records the backoff instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_pool(
    *seeds: endpoint.Endpoint,
    clock: Clock | None = None,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> pool.NimbusPool:
    config = pool.PoolConfig(seeds=seeds, **options)
    return pool.NimbusPool(
        config, clock=clock or Clock(), rng=random.Random(7), sleep=sleeps or Sleeps()
    )


@contextlib.asynccontextmanager
async def opened(nimbus_pool: pool.NimbusPool) -> AsyncIterator[pool.NimbusPool]:
    try:
        yield nimbus_pool
    finally:
        await nimbus_pool.close()


async def dead_endpoint() -> thriftfake.FakeNimbus:
    """A fake that listened once and stopped: its port refuses connections."""
    fake = thriftfake.FakeNimbus()
    await fake.start()
    await fake.stop()
    return fake


async def test_concurrent_calls_share_at_most_max_connections() -> None:
    in_flight = 0
    all_busy = asyncio.Event()

    async def summaries(args: Any) -> list[Any]:
        nonlocal in_flight
        in_flight += 1
        if in_flight == 4:
            all_busy.set()
        await all_busy.wait()  # holds the first four calls until four run at once
        in_flight -= 1
        return []

    async with (
        thriftfake.FakeNimbus({"getTopologySummaries": summaries}) as fake,
        opened(make_pool(fake.endpoint, max_connections=4)) as p,
    ):
        results = await asyncio.gather(*(p.call("getTopologySummaries") for _ in range(64)))
        stats = p.stats().endpoints[fake.endpoint]

    assert results == [[]] * 64
    assert fake.calls["getTopologySummaries"] == 64
    assert stats.opened == 4 and fake.accepted == 4
    assert stats.peak_in_use == 4
    assert stats.reused == 60
    assert stats.in_use == 0 and stats.idle == 4


async def test_idle_connections_are_reused_lifo_and_dropped_after_idle_timeout() -> None:
    clock = Clock()
    async with (
        thriftfake.FakeNimbus() as fake,
        opened(make_pool(fake.endpoint, clock=clock, idle_timeout=60.0)) as p,
    ):
        async with p.borrow(fake.endpoint) as first, p.borrow(fake.endpoint) as second:
            pass
        clock.now += 1
        async with p.borrow(fake.endpoint) as again:
            assert again is first  # returned last (exits run in reverse), reused first
        assert p.stats().endpoints[fake.endpoint].idle == 2

        clock.now += 61
        async with p.borrow(fake.endpoint) as fresh:
            assert fresh not in (first, second)
            assert first.broken and second.broken  # closed, never handed out again
        stats = p.stats().endpoints[fake.endpoint]
        assert (stats.opened, stats.closed, stats.health_checks) == (3, 2, 0)
        await eventually.eventually_async(
            lambda: _equals(fake.open_connections, 1), message="server saw the closes"
        )


async def _equals(actual: int, expected: int) -> bool:
    assert actual == expected, f"{actual} != {expected}"
    return True


async def test_health_check_on_borrow_replaces_a_connection_the_server_closed() -> None:
    clock = Clock()
    async with (
        thriftfake.FakeNimbus() as fake,
        opened(make_pool(fake.endpoint, clock=clock, health_check_after=5.0)) as p,
    ):
        assert (await p.call("getClusterInfo", endpoint=fake.endpoint)).nimbuses
        await fake.drop_connections()  # a Nimbus restart, seen by an idle client
        clock.now += 6

        info = await p.call("getClusterInfo", endpoint=fake.endpoint, idempotent=False)

        assert info.nimbuses[0].port == fake.endpoint.port
        stats = p.stats().endpoints[fake.endpoint]
        assert (stats.health_checks, stats.health_check_failures) == (1, 1)
        assert stats.opened == 2
        assert fake.calls["getClusterInfo"] == 2
        # The failed check is the connection's fault, not the endpoint's.
        assert p.breaker(fake.endpoint).consecutive_failures == 0


async def test_health_check_keeps_a_live_connection_and_skips_fresh_ones() -> None:
    clock = Clock()
    async with (
        thriftfake.FakeNimbus() as fake,
        opened(make_pool(fake.endpoint, clock=clock, health_check_after=5.0)) as p,
    ):
        await p.call("getClusterInfo", endpoint=fake.endpoint)
        clock.now += 4
        await p.call("getClusterInfo", endpoint=fake.endpoint)
        assert fake.calls["getLeader"] == 0  # idle under health_check_after: no check
        clock.now += 6
        await p.call("getClusterInfo", endpoint=fake.endpoint)
        stats = p.stats().endpoints[fake.endpoint]
        assert fake.calls["getLeader"] == 1
        assert (stats.opened, stats.reused, stats.health_check_failures) == (1, 2, 0)


async def test_leader_is_discovered_once_for_concurrent_callers() -> None:
    async with thriftfake.FakeNimbus() as leader, thriftfake.FakeNimbus() as follower:
        follower.is_leader, follower.leader = False, leader.endpoint
        async with opened(make_pool(follower.endpoint, leader.endpoint)) as p:
            found = await asyncio.gather(*(p.leader() for _ in range(20)))
            assert set(found) == {leader.endpoint}
            assert p.stats().discoveries == 1
            assert follower.calls["getLeader"] == 1  # the first seed answered; asked once
            assert leader.calls["getLeader"] == 0
            assert await p.leader() == leader.endpoint and p.stats().discoveries == 1


async def test_leader_outside_the_seeds_is_used_and_cluster_info_is_the_fallback() -> None:
    def no_get_leader(args: Any) -> Any:
        raise thriftfake.ApplicationFailure("Invalid method name: 'getLeader'", 1)

    async with (
        thriftfake.FakeNimbus() as leader,
        thriftfake.FakeNimbus({"getLeader": no_get_leader}) as seed,
    ):
        seed.is_leader, seed.leader = False, leader.endpoint
        async with opened(make_pool(seed.endpoint)) as p:
            assert await p.leader() == leader.endpoint
            assert seed.calls["getClusterInfo"] == 1
            leader.handlers["activate"] = lambda args: None
            await p.call("activate", leader=True, name="wordcount")
            assert leader.calls["activate"] == 1


async def test_no_leader_error_names_every_nimbus_asked() -> None:
    first, second = await dead_endpoint(), await dead_endpoint()
    async with (
        thriftfake.FakeNimbus(is_leader=False) as lost,
        opened(make_pool(first.endpoint, second.endpoint, lost.endpoint)) as p,
    ):
        with pytest.raises(errors.NoLeaderError) as caught:
            await p.leader()
    message = str(caught.value)
    assert str(first.endpoint) in message and str(second.endpoint) in message
    assert "cannot connect" in message
    assert f"{lost.endpoint}: " in message and "No leader" in message


async def test_calls_follow_the_leader_after_failover() -> None:
    async with thriftfake.FakeNimbus() as a, thriftfake.FakeNimbus(is_leader=False) as b:
        b.leader = a.endpoint
        for fake in (a, b):
            fake.handlers["activate"] = fake.leader_only(lambda args: None)
        sleeps = Sleeps()
        async with opened(make_pool(a.endpoint, b.endpoint, sleeps=sleeps)) as p:
            await p.call("activate", leader=True, name="wordcount")
            assert a.calls["activate"] == 1 and p.cached_leader == a.endpoint

            await a.stop()
            b.is_leader, b.leader = True, None
            await p.call("activate", leader=True, name="wordcount")

            assert b.calls["activate"] == 1
            assert p.cached_leader == b.endpoint
            assert p.stats().discoveries == 2
            assert len(sleeps.delays) == 1  # one failed attempt at the old leader


async def test_not_leader_is_retried_on_the_named_leader_even_when_not_idempotent() -> None:
    async with thriftfake.FakeNimbus() as real, thriftfake.FakeNimbus(is_leader=False) as stale:
        stale.leader = real.endpoint
        # A follower that still believes it leads (its view lags the election) but refuses.
        stale.handlers["getLeader"] = lambda args: thriftfake.summary(
            stale.endpoint, is_leader=True
        )
        for fake in (real, stale):
            fake.handlers["killTopology"] = fake.leader_only(lambda args: None)
        async with opened(make_pool(stale.endpoint)) as p:
            await p.call("killTopology", leader=True, idempotent=False, name="wordcount")

            assert stale.calls["killTopology"] == 1 and real.calls["killTopology"] == 1
            assert real.calls["getLeader"] == 0  # the named leader was used directly
            assert p.cached_leader == real.endpoint


async def test_not_leader_on_a_pinned_endpoint_is_raised() -> None:
    async with thriftfake.FakeNimbus(is_leader=False) as follower:
        follower.handlers["activate"] = follower.leader_only(lambda args: None)
        async with opened(make_pool(follower.endpoint)) as p:
            with pytest.raises(errors.NotLeaderError):
                await p.call("activate", endpoint=follower.endpoint, name="t")
            assert follower.calls["activate"] == 1
            # Reads on a follower are fine.
            assert (await p.call("getClusterInfo", endpoint=follower.endpoint)).nimbuses


async def test_breaker_opens_after_failures_and_closes_after_reset() -> None:
    clock = Clock()
    fake = await dead_endpoint()
    config: dict[str, Any] = {
        "retry": retry.RetryPolicy(attempts=1),
        "breaker": breaker.BreakerConfig(failure_threshold=3, reset_timeout=5.0),
    }
    async with opened(make_pool(fake.endpoint, clock=clock, **config)) as p:
        for _ in range(3):
            with pytest.raises(errors.ConnectionFailed):
                await p.call("getClusterInfo", endpoint=fake.endpoint)
        assert p.breaker(fake.endpoint).state is breaker.BreakerState.OPEN

        await fake.start()  # back, but the circuit does not know yet
        clock.now += 2
        with pytest.raises(errors.CircuitOpenError) as caught:
            await p.call("getClusterInfo", endpoint=fake.endpoint)
        assert caught.value.retry_in == pytest.approx(3.0)
        assert fake.accepted == 0

        clock.now += 3
        assert (await p.call("getClusterInfo", endpoint=fake.endpoint)).nimbuses
        assert p.breaker(fake.endpoint).state is breaker.BreakerState.CLOSED
        await fake.stop()


async def test_failed_trial_reopens_the_circuit() -> None:
    clock = Clock()
    fake = await dead_endpoint()
    options: dict[str, Any] = {
        "retry": retry.RetryPolicy(attempts=1),
        "breaker": breaker.BreakerConfig(failure_threshold=1, reset_timeout=5.0),
    }
    async with opened(make_pool(fake.endpoint, clock=clock, **options)) as p:
        with pytest.raises(errors.ConnectionFailed):
            await p.call("getClusterInfo", endpoint=fake.endpoint)
        clock.now += 5
        assert p.breaker(fake.endpoint).state is breaker.BreakerState.HALF_OPEN
        with pytest.raises(errors.ConnectionFailed):
            await p.call("getClusterInfo", endpoint=fake.endpoint)  # the trial
        assert p.breaker(fake.endpoint).state is breaker.BreakerState.OPEN
        assert p.breaker(fake.endpoint).retry_in() == pytest.approx(5.0)


async def test_rejections_are_not_retried_and_keep_the_circuit_closed() -> None:
    def not_alive(args: Any) -> Any:
        raise idl.storm.NotAliveException(msg=f"{args.name} is not alive")

    options: dict[str, Any] = {"breaker": breaker.BreakerConfig(failure_threshold=1)}
    sleeps = Sleeps()
    async with (
        thriftfake.FakeNimbus({"activate": not_alive}) as fake,
        opened(make_pool(fake.endpoint, sleeps=sleeps, **options)) as p,
    ):
        for _ in range(3):
            with pytest.raises(errors.NotAliveError, match="wordcount is not alive"):
                await p.call("activate", leader=True, name="wordcount")
        assert fake.calls["activate"] == 3 and sleeps.delays == []
        assert p.breaker(fake.endpoint).state is breaker.BreakerState.CLOSED
        assert p.stats().endpoints[fake.endpoint].opened == 1  # the connection stayed good


async def test_non_idempotent_call_is_not_retried_after_the_request_was_sent() -> None:
    sleeps = Sleeps()
    handlers = {"killTopology": lambda args: thriftfake.DROP}
    async with (
        thriftfake.FakeNimbus(handlers) as fake,
        opened(make_pool(fake.endpoint, sleeps=sleeps)) as p,
    ):
        with pytest.raises(errors.ConnectionFailed, match="closed the connection"):
            await p.call("killTopology", leader=True, idempotent=False, name="wordcount")
        assert fake.calls["killTopology"] == 1
        assert sleeps.delays == []
        assert p.stats().endpoints[fake.endpoint].in_use == 0


async def test_idempotent_call_is_retried_after_the_connection_dropped() -> None:
    sleeps = Sleeps()
    answers = iter([thriftfake.DROP, thriftfake.DROP, []])
    async with (
        thriftfake.FakeNimbus({"getTopologySummaries": lambda a: next(answers)}) as fake,
        opened(make_pool(fake.endpoint, sleeps=sleeps)) as p,
    ):
        assert await p.call("getTopologySummaries") == []
        assert fake.calls["getTopologySummaries"] == 3
        assert len(sleeps.delays) == 2
        assert all(0 <= d <= p.config.retry.max_delay for d in sleeps.delays)


async def test_call_timeout_is_not_retried_for_a_non_idempotent_call() -> None:
    sleeps = Sleeps()
    async with (
        thriftfake.FakeNimbus({"rebalance": lambda args: thriftfake.HANG}) as fake,
        opened(make_pool(fake.endpoint, sleeps=sleeps)) as p,
    ):
        with pytest.raises(errors.CallTimeout):
            await p.call("rebalance", leader=True, idempotent=False, timeout=0.2, name="t")
        assert fake.calls["rebalance"] == 1 and sleeps.delays == []


async def test_connect_refused_is_retried_for_a_non_idempotent_call() -> None:
    fake = await dead_endpoint()
    fake.handlers["killTopology"] = lambda args: None
    restarted: list[float] = []

    async def sleep_then_restart(seconds: float) -> None:
        restarted.append(seconds)
        await fake.start()

    config = pool.PoolConfig(seeds=(fake.endpoint,))
    p = pool.NimbusPool(config, clock=Clock(), rng=random.Random(1), sleep=sleep_then_restart)
    try:
        await p.call("killTopology", endpoint=fake.endpoint, idempotent=False, name="wordcount")
    finally:
        await p.close()
        await fake.stop()
    assert len(restarted) == 1
    assert fake.calls["killTopology"] == 1


async def test_reads_move_to_another_seed_when_one_is_down() -> None:
    dead = await dead_endpoint()
    async with (
        thriftfake.FakeNimbus(is_leader=False) as alive,
        opened(make_pool(dead.endpoint, alive.endpoint)) as p,
    ):
        summaries = await p.call("getClusterInfo", idempotent=False)
        assert summaries.nimbuses and alive.calls["getClusterInfo"] == 1


async def test_retries_give_up_with_the_last_error() -> None:
    sleeps = Sleeps()
    fake = await dead_endpoint()
    policy = retry.RetryPolicy(attempts=3)
    async with opened(make_pool(fake.endpoint, sleeps=sleeps, retry=policy)) as p:
        with pytest.raises(errors.ConnectionFailed, match="cannot connect"):
            await p.call("getClusterInfo", endpoint=fake.endpoint)
    assert len(sleeps.delays) == 2


async def test_a_borrow_waits_at_most_connect_timeout_for_a_free_slot() -> None:
    async with thriftfake.FakeNimbus() as fake:
        p = make_pool(fake.endpoint, max_connections=1, connect_timeout=0.2)
        async with opened(p), p.borrow(fake.endpoint):
            with pytest.raises(errors.CallTimeout, match=r"no free connection.*all 1 are in use"):
                async with p.borrow(fake.endpoint):
                    pass
            assert p.stats().endpoints[fake.endpoint].waiting == 0


async def test_run_keeps_one_connection_for_several_calls() -> None:
    received = 0

    def chunk(args: Any) -> None:
        nonlocal received
        received += len(args.chunk)

    handlers = {
        "beginFileUpload": lambda args: "/uploads/1.jar",
        "uploadChunk": chunk,
        "finishFileUpload": lambda args: None,
    }
    async with (
        thriftfake.FakeNimbus(handlers) as fake,
        opened(make_pool(fake.endpoint)) as p,
    ):

        async def upload(conn: Any) -> str:
            location: str = await conn.call("beginFileUpload", 5)
            for _ in range(3):
                await conn.call("uploadChunk", 5, location=location, chunk=b"x" * 1000)
            await conn.call("finishFileUpload", 5, location=location)
            return location

        assert await p.run(upload, leader=True, idempotent=True) == "/uploads/1.jar"
    assert received == 3000 and fake.accepted == 1


async def test_close_closes_connections_and_later_borrows_fail_clearly() -> None:
    async with thriftfake.FakeNimbus() as fake:
        p = make_pool(fake.endpoint)
        await p.call("getClusterInfo")
        async with p.borrow(fake.endpoint) as held:
            await p.close()
            assert held.broken
        await p.close()  # idempotent
        with pytest.raises(pool.PoolClosedError):
            async with p.borrow():
                pass
        with pytest.raises(pool.PoolClosedError):
            await p.call("getClusterInfo")
        await eventually.eventually_async(
            lambda: _equals(fake.open_connections, 0), message="all connections closed"
        )


async def test_close_during_discovery_fails_the_waiters_clearly() -> None:
    async with thriftfake.FakeNimbus({"getLeader": lambda args: thriftfake.HANG}) as fake:
        p = make_pool(fake.endpoint)
        waiters = [asyncio.ensure_future(p.leader()) for _ in range(3)]
        await eventually.eventually_async(
            lambda: _equals(fake.calls["getLeader"], 1), message="discovery started"
        )
        await p.close()
        results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, pool.PoolClosedError) for r in results), results


async def test_a_cancelled_call_frees_its_slot_and_drops_its_connection() -> None:
    async with (
        thriftfake.FakeNimbus({"getTopologySummaries": lambda args: thriftfake.HANG}) as fake,
        opened(make_pool(fake.endpoint, max_connections=1)) as p,
    ):
        task = asyncio.ensure_future(p.call("getTopologySummaries", endpoint=fake.endpoint))
        await eventually.eventually_async(
            lambda: _equals(fake.calls["getTopologySummaries"], 1), message="call sent"
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = p.stats().endpoints[fake.endpoint]
        assert (stats.in_use, stats.idle, stats.closed) == (0, 0, 1)
        assert p.breaker(fake.endpoint).consecutive_failures == 0
        fake.handlers["getTopologySummaries"] = lambda args: []
        assert await p.call("getTopologySummaries", endpoint=fake.endpoint) == []


async def test_registry_replaces_a_pool_whose_config_changed() -> None:
    async with thriftfake.FakeNimbus() as fake:
        registry = registry_mod.PoolRegistry()
        try:
            config = pool.PoolConfig(seeds=(fake.endpoint,))
            first = registry.get("prod", config)
            assert registry.get("prod", pool.PoolConfig(seeds=(fake.endpoint,))) is first
            await first.call("getClusterInfo")

            second = registry.get("prod", pool.PoolConfig(seeds=(fake.endpoint,), call_timeout=9))
            assert second is not first
            await eventually.eventually_async(
                lambda: _equals(int(first.closed), 1), message="old pool closed"
            )
            other = registry.get("staging", config)
            assert other is not second and "staging" in registry
            await registry.remove("staging")
            assert other.closed and "staging" not in registry
        finally:
            await registry.close()
        assert second.closed
        with pytest.raises(pool.PoolClosedError):
            registry.get("prod", config)


def test_pool_config_is_validated() -> None:
    seed = endpoint.Endpoint("127.0.0.1", 6627)
    with pytest.raises(ValueError, match="seeds must be a non-empty"):
        pool.PoolConfig(seeds=())
    with pytest.raises(ValueError, match="twice"):
        pool.PoolConfig(seeds=(seed, seed))
    with pytest.raises(ValueError, match="max_connections"):
        pool.PoolConfig(seeds=(seed,), max_connections=0)
    with pytest.raises(ValueError, match="connect_timeout"):
        pool.PoolConfig(seeds=(seed,), connect_timeout=float("nan"))
    with pytest.raises(ValueError, match="call_timeout must be > 0"):
        pool.PoolConfig(seeds=(seed,), call_timeout=0)
