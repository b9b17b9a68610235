"""Lease-based leader election against the embedded API server (short leases: 1.5 s lease,
1.0 s renew deadline, 0.2 s retry period)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import prometheus_client
import pytest

from pilothouse.api.kinds import LEASE
from pilothouse.client import errors
from pilothouse.client.client import Client
from pilothouse.runtime.clock import FakeClock
from pilothouse.runtime.leader import LeaderElector
from pilothouse.testing.eventually import eventually_async

NS = "default"
LEASE_NAME = "test-lock"
LEASE_DURATION, RENEW_DEADLINE, RETRY = 1.5, 1.0, 0.2
MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class Monitor:
    """Watches every elector's callbacks and checks that no two ever lead at once."""

    def __init__(self) -> None:
        self.leading: set[str] = set()
        self.log: list[tuple[str, str]] = []
        self.overlaps = 0

    def started(self, identity: str) -> Callable[[], None]:
        def callback() -> None:
            if self.leading:
                self.overlaps += 1
            self.leading.add(identity)
            self.log.append(("started", identity))

        return callback

    def stopped(self, identity: str) -> Callable[[], None]:
        def callback() -> None:
            self.leading.discard(identity)
            self.log.append(("stopped", identity))

        return callback


class Harness:
    """Builds electors, each with its own client (as separate processes would have)."""

    def __init__(self, apiserver: Any) -> None:
        self.apiserver = apiserver
        self.monitor = Monitor()
        self.clients: list[Client] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.new_leaders: dict[str, list[str]] = {}

    def elector(self, identity: str, **kw: Any) -> LeaderElector:
        client = Client(self.apiserver.config())
        self.clients.append(client)
        seen = self.new_leaders.setdefault(identity, [])
        kw.setdefault("on_started_leading", self.monitor.started(identity))
        kw.setdefault("on_stopped_leading", self.monitor.stopped(identity))
        return LeaderElector(
            client,
            LEASE_NAME,
            NS,
            identity,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY,
            on_new_leader=seen.append,
            **kw,
        )

    def run(self, elector: LeaderElector) -> asyncio.Task[None]:
        task = asyncio.create_task(elector.run())
        self.tasks[elector.identity] = task
        return task

    async def kill(self, identity: str) -> None:
        task = self.tasks[identity]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for identity in list(self.tasks):
            await self.kill(identity)
        for client in self.clients:
            await client.close()


@pytest.fixture
async def harness(apiserver: Any) -> AsyncIterator[Harness]:
    h = Harness(apiserver)
    try:
        yield h
    finally:
        await h.close()


async def lease(client: Client) -> dict[str, Any]:
    spec: dict[str, Any] = (await client.get(LEASE, LEASE_NAME, NS))["spec"]
    return spec


async def leader_of(electors: list[LeaderElector]) -> LeaderElector:
    async def check() -> LeaderElector | None:
        leaders = [e for e in electors if e.is_leader]
        assert len(leaders) <= 1, "two leaders"
        return leaders[0] if leaders else None

    return await eventually_async(check, timeout=10, message="a leader was elected")


def test_timing_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="lease_duration must be greater"):
        LeaderElector(None, "l", NS, "me", lease_duration=1, renew_deadline=1, retry_period=0.1)
    with pytest.raises(ValueError, match=r"retry_period\*1\.2"):
        LeaderElector(None, "l", NS, "me", lease_duration=2, renew_deadline=1, retry_period=0.9)
    with pytest.raises(ValueError, match="required"):
        LeaderElector(None, "l", NS, "", lease_duration=2, renew_deadline=1, retry_period=0.1)


async def test_one_of_two_leads_and_renews(harness: Harness, client: Client) -> None:
    a, b = harness.elector("a"), harness.elector("b")
    harness.run(a)
    harness.run(b)
    leader = await leader_of([a, b])
    follower = b if leader is a else a
    assert leader.leading.is_set() and not follower.leading.is_set()

    spec = await lease(client)
    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == math.ceil(LEASE_DURATION)
    assert spec["leaseTransitions"] == 0
    assert MICRO.fullmatch(spec["acquireTime"]) and MICRO.fullmatch(spec["renewTime"])
    first_renew = spec["renewTime"]

    async def renewed() -> bool:
        current = await lease(client)
        assert current["holderIdentity"] == leader.identity
        assert current["acquireTime"] == spec["acquireTime"]  # kept across renewals
        return bool(current["renewTime"] > first_renew)

    await eventually_async(renewed, timeout=5, message="the lease was renewed")
    # Both have seen the leader; neither ever led alongside the other.
    await eventually_async(
        lambda: _true(harness.new_leaders["a"] == harness.new_leaders["b"] == [leader.identity])
    )
    assert follower.leader == leader.identity
    assert harness.monitor.overlaps == 0


async def _true(value: bool) -> bool:
    return value


async def test_killed_leader_is_replaced_after_the_lease_expires(
    harness: Harness, client: Client
) -> None:
    a = harness.elector("a", release_on_cancel=False)
    harness.run(a)
    await leader_of([a])
    b = harness.elector("b")
    harness.run(b)
    await eventually_async(lambda: _true(b.leader == "a"), message="b observed a")

    loop = asyncio.get_running_loop()
    await harness.kill("a")  # a crash: no release
    killed_at = loop.time()
    assert (await lease(client))["holderIdentity"] == "a"
    await leader_of([a, b])
    waited = loop.time() - killed_at
    # b waits out the lease on its own clock from when it last saw it change (at most one
    # retry period before the kill), then retries with jitter.
    duration = math.ceil(LEASE_DURATION)
    assert duration - 2.2 * RETRY - 0.1 <= waited <= duration + 2.2 * RETRY + 1.0
    spec = await lease(client)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert harness.new_leaders["b"] == ["a", "b"]
    assert harness.monitor.overlaps == 0


@pytest.mark.parametrize(
    "renew_time", ["2000-01-01T00:00:00.000000Z", "2100-01-01T00:00:00.000000Z"]
)
async def test_expiry_is_judged_on_the_local_clock_not_remote_timestamps(
    harness: Harness, client: Client, renew_time: str
) -> None:
    # A lease left by a dead holder whose clock was far off: its renewTime says nothing.
    await client.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": NS},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 1,
                "acquireTime": renew_time,
                "renewTime": renew_time,
                "leaseTransitions": 4,
            },
        }
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    a = harness.elector("a")
    harness.run(a)
    await eventually_async(lambda: _true(a.leader == "ghost"), message="a observed ghost")
    await leader_of([a])
    # Neither taken at once (an ancient renewTime) nor blocked (a future one): one lease
    # duration after a first saw the record, plus at most one jittered retry.
    assert 1.0 <= loop.time() - started <= 1.0 + 2.2 * RETRY + 0.5
    assert (await lease(client))["leaseTransitions"] == 5


async def test_released_lease_is_taken_over_at_once(harness: Harness, client: Client) -> None:
    a = harness.elector("a")
    harness.run(a)
    await leader_of([a])
    b = harness.elector("b")
    harness.run(b)
    await eventually_async(lambda: _true(b.leader == "a"), message="b observed a")

    loop = asyncio.get_running_loop()
    await harness.kill("a")  # graceful: release_on_cancel clears the holder
    released_at = loop.time()
    assert not a.is_leader and a.stopped.is_set()
    spec = await lease(client)
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    await leader_of([a, b])
    # Well under the 2 s lease: the successor only waits for its next retry.
    assert loop.time() - released_at < 2.2 * RETRY + 0.5
    assert (await lease(client))["leaseTransitions"] == 1
    assert harness.monitor.log == [("started", "a"), ("stopped", "a"), ("started", "b")]


async def test_leader_stops_within_renew_deadline_when_the_server_is_gone(
    harness: Harness, apiserver: Any
) -> None:
    states: list[tuple[bool, bool]] = []

    def stopped() -> None:
        # Called synchronously at the moment of loss: the flag and event are already down.
        states.append((a.is_leader, a.leading.is_set()))

    a = harness.elector("a", on_stopped_leading=stopped)
    task = harness.run(a)
    await leader_of([a])
    loop = asyncio.get_running_loop()
    await apiserver.stop()
    stopped_at = loop.time()

    await eventually_async(lambda: _true(not a.is_leader), timeout=5, message="leadership lost")
    assert loop.time() - stopped_at <= RENEW_DEADLINE + 0.3
    assert states == [(False, False)]
    # run() returns after losing leadership (the caller exits): it can never lead again.
    await asyncio.wait_for(task, timeout=RENEW_DEADLINE + 1)
    assert not a.is_leader and a.stopped.is_set()


async def test_leader_stops_when_someone_else_takes_the_lease(
    harness: Harness, client: Client
) -> None:
    a = harness.elector("a")
    task = harness.run(a)
    await leader_of([a])
    current: dict[str, Any] = await client.get(LEASE, LEASE_NAME, NS)
    current["spec"]["holderIdentity"] = "intruder"
    current["spec"]["leaseDurationSeconds"] = 30
    loop = asyncio.get_running_loop()
    await client.update(current)
    changed_at = loop.time()

    await eventually_async(lambda: _true(not a.is_leader), timeout=5, message="leadership lost")
    assert loop.time() - changed_at <= RENEW_DEADLINE
    await asyncio.wait_for(task, timeout=RENEW_DEADLINE + 1)
    # It did not release (or overwrite) the intruder's lease on the way out.
    assert (await lease(client))["holderIdentity"] == "intruder"
    assert harness.monitor.log == [("started", "a"), ("stopped", "a")]


async def test_transitions_are_counted(harness: Harness, client: Client) -> None:
    electors = [harness.elector(name) for name in ("a", "b", "c")]
    for e in electors:
        harness.run(e)
    leaders: list[str] = []
    for expected in range(3):
        live = [e for e in electors if e.identity not in leaders]
        leader = await leader_of(live)
        leaders.append(leader.identity)
        assert (await lease(client))["leaseTransitions"] == expected
        await harness.kill(leader.identity)
    assert sorted(leaders) == ["a", "b", "c"]
    assert harness.monitor.overlaps == 0


async def test_leading_task_is_cancelled_and_metrics_follow(
    harness: Harness, client: Client
) -> None:
    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge(
        "leader_election_master_status", "leading", ["name"], registry=registry
    )
    flags: list[bool] = []
    work_cancelled = asyncio.Event()

    async def lead() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            work_cancelled.set()
            raise

    a = harness.elector("a", on_started_leading=lead, metric=gauge)
    b = harness.elector("b", metric=flags.append)

    def value() -> float | None:
        return registry.get_sample_value("leader_election_master_status", {"name": LEASE_NAME})

    harness.run(a)
    await leader_of([a])
    assert value() == 1.0
    harness.run(b)
    await harness.kill("a")
    assert work_cancelled.is_set()
    assert value() == 0.0
    await leader_of([a, b])
    assert flags == [True]
    await harness.kill("b")
    assert flags == [True, False]


async def test_run_only_once(harness: Harness) -> None:
    a = harness.elector("a")
    harness.run(a)
    await leader_of([a])
    with pytest.raises(RuntimeError, match="runs once"):
        await a.run()


class MemoryLeases:
    """An in-memory Lease API with resourceVersion checks, whose updates can be made to hang
    (a renewal stuck on a dead connection)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0
        self.hang = False
        self.hanging = 0

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.lease is None:
            raise errors.NotFound({"reason": "NotFound"}, 404)
        return copy.deepcopy(self.lease)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.lease is None
        return self._store(obj)

    async def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.hang:
            self.hanging += 1
            await asyncio.get_running_loop().create_future()  # until cancelled
        assert self.lease is not None
        if obj["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise errors.Conflict({"reason": "Conflict"}, 409)
        return self._store(obj)

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.lease = copy.deepcopy(obj)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.lease)


async def test_deadline_ends_leadership_at_once_while_a_renewal_hangs() -> None:
    clock = FakeClock()
    leases = MemoryLeases()
    seen_in_callback: list[bool] = []
    a = LeaderElector(
        leases,
        LEASE_NAME,
        NS,
        "a",
        lease_duration=LEASE_DURATION,
        renew_deadline=RENEW_DEADLINE,
        retry_period=RETRY,
        clock=clock,
        on_stopped_leading=lambda: seen_in_callback.append(a.is_leader),
    )
    task = asyncio.create_task(a.run())
    try:
        await eventually_async(lambda: _true(a.is_leader), message="a leads")
        clock.advance(RETRY)  # first renewal: succeeds at t=0.2, deadline moves to 1.2
        await eventually_async(lambda: _true(leases.rv == 2), message="renewed")
        leases.hang = True
        clock.advance(RETRY)  # second renewal (t=0.4) hangs
        await eventually_async(lambda: _true(leases.hanging == 1), message="renewal hangs")
        clock.advance(0.79)  # t=1.19: still within the deadline
        assert a.is_leader
        clock.advance(0.01)  # t=1.2: the deadline timer fires inside advance()
        assert not a.is_leader and not a.leading.is_set()
        assert seen_in_callback == [False]
        leases.hang = False
        await asyncio.wait_for(task, timeout=5)
        # The hung renewal was abandoned; the lease was released on the way out.
        assert leases.lease is not None
        assert leases.lease["spec"]["holderIdentity"] == ""
        assert leases.lease["spec"]["leaseTransitions"] == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
