"""client-go's rate limiters (pilothouse.runtime.ratelimit)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.runtime.clock import FakeClock
from pilothouse.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)

# -- exponential -------------------------------------------------------------------------


def test_exponential_backoff_sequence_is_capped() -> None:
    rl: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    delays = [rl.when("a") for _ in range(25)]
    expected = [min(0.005 * 2**n, 1000.0) for n in range(25)]
    assert delays == pytest.approx(expected)
    assert delays[:5] == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    # 0.005 * 2**17 = 655.36 s; 2**18 would be 1310.72 s, over the cap.
    assert delays[17] == pytest.approx(655.36)
    assert delays[18:] == [1000.0] * 7
    assert rl.num_requeues("a") == 25


def test_exponential_is_per_item_and_reset_by_forget() -> None:
    rl: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(0.001, 1.0)
    assert rl.when("a") == pytest.approx(0.001)
    assert rl.when("a") == pytest.approx(0.002)
    assert rl.when("b") == pytest.approx(0.001)
    assert rl.num_requeues("a") == 2
    assert rl.num_requeues("b") == 1
    rl.forget("a")
    rl.forget("never-seen")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(0.001)
    assert rl.num_requeues("b") == 1


def test_exponential_never_overflows() -> None:
    rl: ItemExponentialFailureRateLimiter[int] = ItemExponentialFailureRateLimiter(1.0, math.inf)
    delays = [rl.when(1) for _ in range(1100)]  # 2.0**1024 would raise OverflowError
    assert delays[1023] == 2.0**1023
    assert delays[-1] == math.inf
    capped: ItemExponentialFailureRateLimiter[int] = ItemExponentialFailureRateLimiter()
    for _ in range(5000):
        assert capped.when(1) <= 1000.0
    assert capped.when(1) == 1000.0


@given(base=st.floats(0, 10), cap=st.floats(0, 1e6), failures=st.integers(0, 3000))
def test_exponential_matches_the_formula(base: float, cap: float, failures: int) -> None:
    rl: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(base, cap)
    rl._failures["k"] = failures
    expected = cap if failures > 1023 else min(base * 2.0**failures, cap)
    assert rl.when("k") == expected


def test_exponential_rejects_negative_settings() -> None:
    with pytest.raises(ValueError):
        ItemExponentialFailureRateLimiter(-1.0, 1.0)


# -- token bucket ------------------------------------------------------------------------


def test_bucket_burst_then_spacing() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert [rl.when(i) for i in range(100)] == [0.0] * 100
    # The bucket is empty: each reservation waits 0.1 s longer than the one before.
    assert [rl.when(i) for i in range(5)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert rl.num_requeues("x") == 0
    rl.forget("x")  # no per-item state


def test_bucket_refills_at_qps_up_to_burst() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=100, clock=clock)
    for i in range(102):
        rl.when(i)  # tokens: -2
    clock.advance(0.5)  # +5 tokens -> 3
    assert [rl.when("x") for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])
    clock.advance(3600)  # refill, but never beyond the burst
    assert [rl.when(i) for i in range(100)] == [0.0] * 100
    assert rl.when("x") == pytest.approx(0.1)


def test_bucket_edge_rates() -> None:
    clock = FakeClock()
    unlimited = BucketRateLimiter(qps=math.inf, burst=0, clock=clock)
    assert [unlimited.when(i) for i in range(1000)] == [0.0] * 1000
    no_burst = BucketRateLimiter(qps=10, burst=0, clock=clock)
    assert no_burst.when("x") == math.inf  # x/time/rate: can never be satisfied
    zero_rate = BucketRateLimiter(qps=0, burst=2, clock=clock)
    assert [zero_rate.when(i) for i in range(3)] == [0.0, 0.0, math.inf]
    clock.advance(1e6)
    assert zero_rate.when("x") == math.inf
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=-1)


# -- max of ------------------------------------------------------------------------------


def test_max_of_asks_every_limiter() -> None:
    clock = FakeClock()
    exp: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 100.0)
    bucket = BucketRateLimiter(qps=1, burst=1, clock=clock)
    rl = MaxOfRateLimiter(exp, bucket)
    assert rl.when("a") == 1.0  # exponential 1, bucket 0
    assert rl.when("b") == 1.0  # exponential 1, bucket 1
    assert rl.when("a") == 2.0  # exponential 2, bucket 2
    assert rl.when("c") == 3.0  # exponential 1, bucket 3
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


def test_default_controller_rate_limiter() -> None:
    clock = FakeClock()
    rl: RateLimiter[str] = default_controller_rate_limiter(clock)
    # Per item: exponential from 5 ms; overall: 100 immediate tokens, then 10 per second.
    assert rl.when("a") == pytest.approx(0.005)
    assert rl.when("a") == pytest.approx(0.01)
    assert [rl.when(str(i)) for i in range(98)] == pytest.approx([0.005] * 98)
    assert rl.when("b") == pytest.approx(0.1)  # bucket empty
    assert rl.when("c") == pytest.approx(0.2)
    clock.advance(3600)
    for _ in range(20):
        delay = rl.when("a")
    assert delay == 1000.0
    assert rl.num_requeues("a") == 22
    rl.forget("a")
    assert rl.num_requeues("a") == 0
