"""RealClock and FakeClock (pilothouse.runtime.clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from pilothouse.runtime.clock import Clock, FakeClock, RealClock


async def settle(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Let the loop run until ``predicate()`` holds (a bounded poll, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0)


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [RealClock(), FakeClock()]
    assert len(clocks) == 2


# -- FakeClock ---------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=10.0)
    assert clock.now() == 10.0
    clock.advance(2.5)
    assert clock.now() == 12.5
    clock.set(20)
    assert clock.now() == 20.0
    clock.advance(0)
    assert clock.now() == 20.0


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock(start=5.0)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(4.0)
    assert clock.now() == 5.0


def test_callbacks_fire_in_deadline_order_with_now_at_their_deadline() -> None:
    clock = FakeClock()
    fired: list[tuple[str, float]] = []

    def record(name: str) -> Callable[[], None]:
        return lambda: fired.append((name, clock.now()))

    for name, when in [("c", 3.0), ("a", 1.0), ("b", 2.0), ("a2", 1.0), ("late", 9.0)]:
        clock.call_at(when, record(name))
    clock.advance(5)
    assert fired == [("a", 1.0), ("a2", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.now() == 5.0
    assert clock.pending_timers == 1
    assert clock.next_deadline() == 9.0


def test_nothing_fires_before_its_deadline() -> None:
    clock = FakeClock()
    fired: list[float] = []
    clock.call_at(1.0, lambda: fired.append(clock.now()))
    clock.advance(0.999)
    assert fired == []
    clock.advance(0.001)
    assert fired == [1.0]


def test_cancelled_timer_does_not_fire() -> None:
    clock = FakeClock()
    fired: list[str] = []
    timer = clock.call_at(1.0, lambda: fired.append("x"))
    other = clock.call_at(2.0, lambda: fired.append("y"))
    assert clock.pending_timers == 2
    timer.cancel()
    timer.cancel()  # idempotent
    assert clock.pending_timers == 1
    assert clock.next_deadline() == 2.0
    clock.advance(3)
    assert fired == ["y"]
    assert timer.cancelled() and not timer.fired()
    assert other.fired()
    other.cancel()  # after firing: a no-op
    assert clock.pending_timers == 0
    assert clock.next_deadline() is None


def test_callback_scheduled_during_a_step_fires_within_it_if_due() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(clock.now())
        if len(ticks) < 10:
            clock.call_later(1.0, tick)

    clock.call_at(1.0, tick)
    clock.advance(4.5)
    assert ticks == [1.0, 2.0, 3.0, 4.0]
    clock.advance(100)
    assert ticks == [float(t) for t in range(1, 11)]


def test_past_due_timer_fires_on_the_next_step() -> None:
    clock = FakeClock(start=5.0)
    fired: list[float] = []
    timer = clock.call_at(3.0, lambda: fired.append(clock.now()))
    assert fired == []  # not re-entrantly inside call_at
    assert timer.when() == 3.0
    clock.advance(0)
    assert fired == [5.0]  # time never goes backwards, even for a late timer


async def test_fake_sleep_wakes_on_advance() -> None:
    clock = FakeClock()
    woke: list[float] = []

    async def sleeper(delay: float) -> None:
        await clock.sleep(delay)
        woke.append(clock.now())

    tasks = [asyncio.create_task(sleeper(d)) for d in (3.0, 1.0, 2.0)]
    await settle(lambda: clock.pending_timers == 3)
    clock.advance(1.5)
    await settle(lambda: len(woke) == 1)
    assert woke == [1.5]  # resumed after the step, so it sees the stepped time
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woke == [1.5, 11.5, 11.5]
    assert clock.pending_timers == 0


async def test_fake_sleep_zero_returns_without_advancing() -> None:
    clock = FakeClock()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.now() == 0.0
    assert clock.pending_timers == 0


async def test_cancelled_fake_sleep_cancels_its_timer() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await settle(lambda: clock.pending_timers == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending_timers == 0
    clock.advance(10)  # nothing left to fire at a finished future


# -- RealClock ---------------------------------------------------------------------------


async def test_real_clock_is_the_loop_clock() -> None:
    loop = asyncio.get_running_loop()
    clock = RealClock()
    before = loop.time()
    now = clock.now()
    assert before <= now <= loop.time()


def test_real_clock_outside_a_loop_is_monotonic() -> None:
    clock = RealClock()
    before = time.monotonic()
    assert before <= clock.now() <= time.monotonic()


async def test_real_clock_call_at_and_cancel() -> None:
    clock = RealClock()
    fired: list[str] = []
    handle = clock.call_at(clock.now(), lambda: fired.append("due"))
    cancelled = clock.call_at(clock.now(), lambda: fired.append("cancelled"))
    cancelled.cancel()
    assert isinstance(handle, asyncio.TimerHandle)
    await settle(lambda: fired == ["due"])
    far = clock.call_at(clock.now() + 3600, lambda: fired.append("far"))
    assert far.when() > clock.now()
    far.cancel()
    await clock.sleep(0)
    assert fired == ["due"]
