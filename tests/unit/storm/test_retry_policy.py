"""RetryPolicy: validation, the exponential ceiling, and both jitters staying in bounds."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.storm.nimbus import retry

policies = st.builds(
    lambda attempts, base, extra, multiplier, jitter: retry.RetryPolicy(
        attempts=attempts,
        base_delay=base,
        max_delay=base + extra,
        multiplier=multiplier,
        jitter=jitter,
    ),
    attempts=st.integers(1, 50),
    base=st.floats(0, 10, allow_nan=False),
    extra=st.floats(0, 100, allow_nan=False),
    multiplier=st.floats(1, 10, allow_nan=False),
    jitter=st.sampled_from(["full", "decorrelated", "none"]),
)


def test_defaults() -> None:
    policy = retry.RetryPolicy()
    assert (policy.attempts, policy.base_delay, policy.max_delay, policy.multiplier) == (
        4,
        0.1,
        2.0,
        2.0,
    )
    assert policy.jitter == "full"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"attempts": 0}, "attempts must be at least 1"),
        ({"attempts": -3}, "attempts must be at least 1"),
        ({"attempts": True}, "attempts must be an int"),
        ({"attempts": 2.0}, "attempts must be an int"),
        ({"base_delay": -0.1}, "base_delay must be finite and >= 0"),
        ({"base_delay": float("nan")}, "base_delay must be finite"),
        ({"max_delay": float("inf")}, "max_delay must be finite"),
        ({"base_delay": 3.0, "max_delay": 2.0}, r"max_delay \(2.0\) must not be below"),
        ({"multiplier": 0.5}, "multiplier must be >= 1"),
        ({"multiplier": "2"}, "multiplier must be a number"),
        ({"jitter": "equal"}, "jitter must be one of full, decorrelated, none"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry.RetryPolicy(**fields)


def test_ceiling_grows_exponentially_up_to_max_delay() -> None:
    policy = retry.RetryPolicy(attempts=8, base_delay=0.1, max_delay=2.0, jitter="none")
    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in range(7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )
    assert list(policy.delays(rng)) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert policy.worst_case() == pytest.approx(7.1)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = retry.RetryPolicy(multiplier=10.0)
    assert policy.ceiling(10**6) == policy.max_delay
    assert 0 <= policy.delay(10**6, random.Random(1)) <= policy.max_delay


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="numbered from 0"):
        retry.RetryPolicy().delay(-1, random.Random(0))


def test_full_jitter_spreads_over_the_whole_range() -> None:
    policy = retry.RetryPolicy(base_delay=1.0, max_delay=1.0)
    rng = random.Random(42)
    samples = [policy.delay(3, rng) for _ in range(2000)]
    assert min(samples) < 0.05 and max(samples) > 0.95
    assert 0.45 < sum(samples) / len(samples) < 0.55


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    policy = retry.RetryPolicy(
        base_delay=0.1, max_delay=100.0, multiplier=3.0, jitter="decorrelated"
    )
    rng = random.Random(3)
    for previous in (0.1, 1.0, 10.0):
        samples = [policy.delay(0, rng, previous) for _ in range(500)]
        assert all(0.1 <= s <= previous * 3 for s in samples)
        assert max(samples) > previous * 3 * 0.9  # it does reach up to previous * multiplier
    first = [policy.delay(0, rng) for _ in range(500)]
    assert all(0.1 <= s <= 0.3 for s in first)


def test_the_same_seed_gives_the_same_delays() -> None:
    jitters: tuple[retry.Jitter, ...] = ("full", "decorrelated")
    for jitter in jitters:
        policy = retry.RetryPolicy(attempts=10, jitter=jitter)
        assert list(policy.delays(random.Random(5))) == list(policy.delays(random.Random(5)))
        assert list(policy.delays(random.Random(5))) != list(policy.delays(random.Random(6)))


@given(policies, st.integers(0, 5000), st.integers(0, 2**32 - 1))
def test_every_delay_is_within_its_bounds(
    policy: retry.RetryPolicy, attempt: int, seed: int
) -> None:
    rng = random.Random(seed)
    delay = policy.delay(attempt, rng)
    assert 0 <= delay <= policy.max_delay
    if policy.jitter == "decorrelated":
        assert delay >= policy.base_delay
    else:
        assert delay <= policy.ceiling(attempt)


@given(policies, st.integers(0, 2**32 - 1))
def test_one_call_waits_attempts_minus_one_times_at_most_worst_case(
    policy: retry.RetryPolicy, seed: int
) -> None:
    delays = list(policy.delays(random.Random(seed)))
    assert len(delays) == policy.attempts - 1
    assert sum(delays) <= policy.worst_case() * (1 + 1e-9) + 1e-9
