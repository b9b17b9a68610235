"""The rate-limiting work queue (pilothouse.runtime.workqueue): client-go's semantics."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pilothouse.runtime.clock import FakeClock, RealClock
from pilothouse.runtime.ratelimit import ItemExponentialFailureRateLimiter
from pilothouse.runtime.workqueue import RateLimitingQueue, ShutDown

K = TypeVar("K", bound=Hashable)


async def settle(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Let the loop run until ``predicate()`` holds (a bounded poll, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0)


def get_nowait(q: RateLimitingQueue[K]) -> K:
    """``await q.get()`` for a queue known to have work: it must not suspend."""
    coro = q.get()
    try:
        coro.send(None)
    except StopIteration as stop:
        value: K = stop.value
        return value
    coro.close()
    raise AssertionError("get() suspended")


def drain_nowait(q: RateLimitingQueue[K]) -> list[K]:
    keys = []
    while q.len():
        keys.append(get_nowait(q))
    return keys


def new_queue(clock: FakeClock | None = None, **kwargs: Any) -> RateLimitingQueue[str]:
    return RateLimitingQueue(clock=clock if clock is not None else FakeClock(), **kwargs)


# -- the basic queue ---------------------------------------------------------------------


def test_add_deduplicates_and_keeps_fifo_order() -> None:
    q = new_queue()
    for key in ["a", "b", "a", "c", "b", "a"]:
        q.add(key)
    assert q.len() == 3
    assert drain_nowait(q) == ["a", "b", "c"]
    assert q.num_processing() == 3


def test_key_added_while_processing_is_requeued_on_done() -> None:
    q = new_queue()
    q.add("a")
    q.add("b")
    assert get_nowait(q) == "a"
    q.add("a")  # dirty: not queued while processing
    q.add("a")
    assert q.len() == 1
    assert get_nowait(q) == "b"
    assert q.len() == 0  # "a" is not handed to a second worker
    q.done("a")
    assert q.len() == 1  # re-queued, once
    assert get_nowait(q) == "a"
    q.done("a")
    q.done("b")
    assert q.len() == 0
    assert q.num_processing() == 0


def test_done_without_a_new_add_does_not_requeue() -> None:
    q = new_queue()
    q.add("a")
    assert get_nowait(q) == "a"
    q.done("a")
    assert q.len() == 0
    q.done("a")  # not processing: a no-op
    q.done("never")
    assert q.len() == 0


def test_done_on_a_dirty_key_that_is_not_processing_does_not_duplicate_it() -> None:
    q = new_queue()
    q.add("a")
    q.done("a")  # misuse: never handed out
    assert q.len() == 1
    assert drain_nowait(q) == ["a"]


async def test_get_waits_for_an_add() -> None:
    q = new_queue()
    task = asyncio.create_task(q.get())
    await settle(lambda: len(q._getters) == 1)
    assert not task.done()
    q.add("a")
    assert await task == "a"
    assert q.is_processing("a")


async def test_getters_are_served_in_order() -> None:
    q = new_queue()
    tasks = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle(lambda: len(q._getters) == 3)
    for key in "xyz":
        q.add(key)
    assert await asyncio.gather(*tasks) == ["x", "y", "z"]


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    q = new_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle(lambda: len(q._getters) == 2)
    q.add("a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs: `second` must get "a"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 5) == "a"


async def test_cancelled_waiting_getter_is_forgotten() -> None:
    q = new_queue()
    task = asyncio.create_task(q.get())
    await settle(lambda: len(q._getters) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(q._getters) == 0
    q.add("a")
    assert get_nowait(q) == "a"


async def test_no_key_is_processed_concurrently_and_no_add_is_lost() -> None:
    """Many workers, keys re-added at random (also while processing), fully interleaved."""
    rng = random.Random(1234)
    q = new_queue()
    keys = [f"k{i}" for i in range(20)]
    version = dict.fromkeys(keys, 0)  # bumped by every add: the "level" to converge to
    seen: dict[str, int] = {}  # the version each key's latest processing started from
    active: set[str] = set()
    max_parallel = 0
    processed = 0

    async def worker() -> None:
        nonlocal max_parallel, processed
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            assert key not in active, f"{key} handed to two workers at once"
            active.add(key)
            max_parallel = max(max_parallel, len(active))
            seen[key] = version[key]
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)  # yield: let the others interleave
                if rng.random() < 0.3:
                    other = rng.choice(keys)
                    version[other] += 1
                    q.add(other)
            active.remove(key)
            processed += 1
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(50)]
    for _ in range(3000):
        key = rng.choice(keys)
        version[key] += 1
        q.add(key)
        if rng.random() < 0.5:
            await asyncio.sleep(0)
    await settle(lambda: q.len() == 0 and q.num_processing() == 0)
    await q.shutdown_with_drain()
    await asyncio.gather(*workers)
    assert seen == version  # every key was processed after its last add
    assert max_parallel > 1
    assert processed < 3000 + sum(version.values())  # deduplication did its job


# -- delays ------------------------------------------------------------------------------


def test_add_after_adds_when_due_in_deadline_order() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add_after("c", 3.0)
    q.add_after("a", 1.0)
    q.add_after("b", 2.0)
    q.add_after("b2", 2.0)
    assert q.len() == 0
    assert q.num_waiting() == 4
    clock.advance(0.999)
    assert q.len() == 0
    clock.advance(0.001)
    assert drain_nowait(q) == ["a"]
    clock.advance(5)
    assert drain_nowait(q) == ["b", "b2", "c"]
    assert q.num_waiting() == 0
    assert clock.pending_timers == 0


def test_add_after_keeps_the_earliest_deadline() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add_after("a", 5.0)
    q.add_after("a", 2.0)  # earlier: wins
    q.add_after("a", 10.0)  # later: ignored
    assert q.num_waiting() == 1
    clock.advance(2.0)
    assert drain_nowait(q) == ["a"]
    clock.advance(100)  # the superseded 5 s and 10 s deadlines add nothing
    assert q.len() == 0
    assert clock.pending_timers == 0


def test_one_timer_serves_the_whole_delaying_heap() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    for i in range(1000):
        q.add_after(f"k{i}", 10.0 + i)
    assert clock.pending_timers == 1
    assert clock.next_deadline() == 10.0
    q.add_after("early", 1.0)  # re-armed to the earliest deadline
    assert clock.pending_timers == 1
    assert clock.next_deadline() == 1.0
    clock.advance(1.0)
    assert drain_nowait(q) == ["early"]
    assert clock.next_deadline() == 10.0
    clock.advance(2000)
    assert drain_nowait(q) == [f"k{i}" for i in range(1000)]
    assert clock.pending_timers == 0


def test_add_after_non_positive_delay_adds_at_once() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add_after("a", 0)
    q.add_after("b", -1)
    q.add_after("c", float("nan"))
    assert drain_nowait(q) == ["a", "b", "c"]
    assert clock.pending_timers == 0


def test_delayed_add_is_independent_of_the_queue() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add_after("a", 1.0)
    q.add("a")  # does not cancel the delayed add (client-go)
    assert get_nowait(q) == "a"
    q.done("a")
    clock.advance(1.0)
    assert drain_nowait(q) == ["a"]
    # ...and a due key that is still queued is deduplicated.
    q.add("b")
    q.add_after("b", 1.0)
    clock.advance(1.0)
    assert drain_nowait(q) == ["b"]


def test_delayed_add_of_a_processing_key_marks_it_dirty() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add("a")
    assert get_nowait(q) == "a"
    q.add_after("a", 1.0)
    clock.advance(1.0)
    assert q.len() == 0
    q.done("a")
    assert drain_nowait(q) == ["a"]


async def test_add_after_wakes_a_waiting_getter() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    task = asyncio.create_task(q.get())
    await settle(lambda: len(q._getters) == 1)
    q.add_after("a", 30.0)
    clock.advance(30.0)
    assert await asyncio.wait_for(task, 5) == "a"


async def test_add_after_on_the_real_clock() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=RealClock())
    q.add_after("a", 0.001)
    assert q.len() == 0
    assert await asyncio.wait_for(q.get(), 5) == "a"


# -- rate limiting -----------------------------------------------------------------------


def test_rate_limited_backoff_and_forget() -> None:
    clock = FakeClock()
    q = new_queue(clock)  # controller-runtime's default limiter, on the fake clock
    expected = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16]
    for n, delay in enumerate(expected):
        start = clock.now()
        q.add_rate_limited("a")
        assert q.num_requeues("a") == n + 1
        assert clock.next_deadline() == pytest.approx(start + delay)
        clock.set(start + delay * 0.999)
        assert q.len() == 0
        clock.set(start + delay)
        assert get_nowait(q) == "a"
        q.done("a")
    q.forget("a")
    assert q.num_requeues("a") == 0
    q.add_rate_limited("a")
    assert clock.next_deadline() == pytest.approx(clock.now() + 0.005)


def test_rate_limited_backoff_is_capped() -> None:
    clock = FakeClock()
    q = new_queue(clock, rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1000.0))
    for _ in range(30):
        q.add_rate_limited("a")
        deadline = clock.next_deadline()
        assert deadline is not None
        clock.set(deadline)
        assert get_nowait(q) == "a"
        q.done("a")
    q.add_rate_limited("a")
    assert clock.next_deadline() == pytest.approx(clock.now() + 1000.0)


# -- shutdown ----------------------------------------------------------------------------


async def test_get_after_shutdown_drains_then_raises() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add("a")
    q.add("b")
    q.add_after("later", 1.0)
    q.shutdown()
    assert q.shutting_down
    assert clock.pending_timers == 0
    q.add("c")  # ignored
    q.add_after("d", 0)  # ignored
    q.add_rate_limited("e")  # ignored
    assert await q.get() == "a"
    assert await q.get() == "b"
    with pytest.raises(ShutDown):
        await q.get()
    clock.advance(10)
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_releases_waiting_getters() -> None:
    q = new_queue()
    tasks = [asyncio.create_task(q.get()) for _ in range(5)]
    await settle(lambda: len(q._getters) == 5)
    q.shutdown()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        assert isinstance(result, ShutDown)


async def test_dirty_key_is_still_requeued_after_shutdown() -> None:
    q = new_queue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # dirty, before the shutdown
    q.shutdown()
    q.done("a")
    assert await q.get() == "a"
    q.done("a")
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_waits_for_processing_keys() -> None:
    q = new_queue()
    q.add("a")
    q.add("b")
    a = await q.get()
    b = await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle(lambda: len(q._drainers) == 1)
    q.done(a)
    await settle(lambda: len(q._drainers) == 1)  # re-armed: "b" is still processing
    assert not drain.done()
    q.done(b)
    await asyncio.wait_for(drain, 5)
    assert q.shutting_down
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_returns_at_once_when_idle() -> None:
    q = new_queue()
    await asyncio.wait_for(q.shutdown_with_drain(), 5)
    assert q.shutting_down


async def test_shutdown_releases_a_drain() -> None:
    q = new_queue()
    q.add("a")
    await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle(lambda: len(q._drainers) == 1)
    q.shutdown()
    await asyncio.wait_for(drain, 5)
    assert q.is_processing("a")


# -- state machine against a model -------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
DELAYS = st.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.0, 2.0, 3.5])


class QueueMachine(RuleBasedStateMachine):
    """Random operation sequences against a plain model of client-go's queue."""

    @initialize()
    def setup(self) -> None:
        self.clock = FakeClock()
        self.base = 0.25
        self.q: RateLimitingQueue[str] = RateLimitingQueue(
            ItemExponentialFailureRateLimiter(self.base, 4.0), clock=self.clock
        )
        self.queue: list[str] = []
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.waiting: dict[str, tuple[float, int]] = {}  # key -> (ready_at, seq)
        self.seq = 0
        self.failures: dict[str, int] = {}
        self.shut = False

    def model_add(self, key: str) -> None:
        if self.shut or key in self.dirty:
            return
        self.dirty.add(key)
        if key not in self.processing:
            self.queue.append(key)

    def model_add_after(self, key: str, delay: float) -> None:
        if self.shut:
            return
        if delay <= 0:
            self.model_add(key)
            return
        ready_at = self.clock.now() + delay
        current = self.waiting.get(key)
        if current is None or ready_at < current[0]:
            self.seq += 1
            self.waiting[key] = (ready_at, self.seq)

    @rule(key=KEYS)
    def add(self, key: str) -> None:
        self.q.add(key)
        self.model_add(key)

    @rule(key=KEYS, delay=DELAYS)
    def add_after(self, key: str, delay: float) -> None:
        self.q.add_after(key, delay)
        self.model_add_after(key, delay)

    @rule(key=KEYS)
    def add_rate_limited(self, key: str) -> None:
        n = self.failures.get(key, 0)
        self.failures[key] = n + 1
        self.q.add_rate_limited(key)
        self.model_add_after(key, min(self.base * 2**n, 4.0))

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        self.q.forget(key)
        self.failures.pop(key, None)

    @precondition(lambda self: bool(self.queue))
    @rule()
    def get(self) -> None:
        key = get_nowait(self.q)
        assert key == self.queue.pop(0)
        self.dirty.discard(key)
        self.processing.add(key)

    @precondition(lambda self: self.shut and not self.queue)
    @rule()
    def get_after_shutdown(self) -> None:
        with pytest.raises(ShutDown):
            get_nowait(self.q)

    @precondition(lambda self: bool(self.processing))
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.processing)))
        self.q.done(key)
        self.processing.remove(key)
        if key in self.dirty:
            self.queue.append(key)

    @rule(seconds=st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        target = self.clock.now() + seconds
        due = sorted((ready, seq, key) for key, (ready, seq) in self.waiting.items())
        self.clock.advance(seconds)
        for ready, _, key in due:
            if ready <= target:
                del self.waiting[key]
                self.model_add(key)

    @rule()
    def shutdown(self) -> None:
        self.q.shutdown()
        self.shut = True
        self.waiting.clear()

    @invariant()
    def matches_the_model(self) -> None:
        q = self.q
        assert list(q._queue) == self.queue
        assert q.len() == len(self.queue)
        assert q._dirty == self.dirty
        assert set(q._processing) == self.processing
        assert q.num_waiting() == len(self.waiting)
        assert q.shutting_down == self.shut
        for key, failures in self.failures.items():
            assert q.num_requeues(key) == failures

    @invariant()
    def queue_invariants(self) -> None:
        q = self.q
        queued = list(q._queue)
        assert len(queued) == len(set(queued))  # queued once
        assert set(queued) <= q._dirty  # everything queued is dirty
        assert not set(queued) & set(q._processing)  # never queued while processing
        # exactly one timer, at the earliest waiting deadline
        if self.waiting:
            assert self.clock.pending_timers == 1
            assert self.clock.next_deadline() == min(r for r, _ in self.waiting.values())
        else:
            assert self.clock.pending_timers == 0


QueueMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueMachine = QueueMachine.TestCase
