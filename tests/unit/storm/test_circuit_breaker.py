"""CircuitBreaker: the state machine, what counts as a failure, and a model-based check."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from pilothouse.operators.storm.nimbus import breaker, errors

CLOSED, OPEN, HALF_OPEN = (
    breaker.BreakerState.CLOSED,
    breaker.BreakerState.OPEN,
    breaker.BreakerState.HALF_OPEN,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, reset: float = 5.0) -> tuple[breaker.CircuitBreaker, Clock]:
    clock = Clock()
    config = breaker.BreakerConfig(failure_threshold=threshold, reset_timeout=reset)
    return breaker.CircuitBreaker(config, clock, endpoint="nimbus-0:6627"), clock


def fail(b: breaker.CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        b.admit().failed()


def test_opens_after_threshold_consecutive_failures_only() -> None:
    b, _ = make(threshold=3)
    fail(b, 2)
    b.admit().succeeded()  # a success in between starts the count over
    fail(b, 2)
    assert b.state is CLOSED and b.consecutive_failures == 2
    fail(b)
    assert b.state is OPEN and b.times_opened == 1


def test_open_circuit_refuses_with_endpoint_and_time_left() -> None:
    b, clock = make(threshold=1, reset=5.0)
    fail(b)
    clock.now += 2
    with pytest.raises(errors.CircuitOpenError) as caught:
        b.admit()
    assert caught.value.endpoint == "nimbus-0:6627"
    assert caught.value.retry_in == pytest.approx(3.0)
    assert "nimbus-0:6627" in str(caught.value) and "3.0s" in str(caught.value)
    assert not b.allows()
    assert isinstance(caught.value, errors.NimbusUnavailable)


def test_half_open_admits_exactly_one_trial_and_its_success_closes() -> None:
    b, clock = make(threshold=1, reset=5.0)
    fail(b)
    clock.now += 5
    assert b.state is HALF_OPEN and b.allows()
    trial = b.admit()
    assert trial.trial
    assert not b.allows()
    with pytest.raises(errors.CircuitOpenError):
        b.admit()
    trial.succeeded()
    assert b.state is CLOSED and b.consecutive_failures == 0
    b.admit().succeeded()


def test_failed_trial_reopens_for_a_full_reset_timeout() -> None:
    b, clock = make(threshold=1, reset=5.0)
    fail(b)
    clock.now += 7
    b.admit().failed()
    assert b.state is OPEN and b.retry_in() == pytest.approx(5.0) and b.times_opened == 2
    clock.now += 4.9
    assert b.state is OPEN
    clock.now += 0.1
    assert b.state is HALF_OPEN


def test_abandoned_trial_frees_the_slot_for_the_next_caller() -> None:
    b, clock = make(threshold=1)
    fail(b)
    clock.now += 5
    b.admit().outcome(asyncio.CancelledError())
    assert b.state is HALF_OPEN
    b.admit().succeeded()
    assert b.state is CLOSED


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (None, True),
        (errors.NotAliveError("no such topology"), True),
        (errors.ApplicationError("boom"), True),
        (errors.NotLeaderError("not a leader", "h:1"), True),
        (errors.ConnectionFailed("refused"), False),
        (errors.CallTimeout("slow"), False),
        (errors.CircuitOpenError("x:1", 1.0), None),
        (errors.NoLeaderError("nobody"), None),
        (errors.FrameTooLargeError("big"), None),
        (asyncio.CancelledError(), None),
        (RuntimeError("bug"), None),
    ],
)
def test_what_counts(exc: BaseException | None, verdict: bool | None) -> None:
    assert breaker.counts_as(exc) is verdict


def test_rejections_count_as_success() -> None:
    b, _ = make(threshold=2)
    fail(b)
    b.admit().outcome(errors.AuthorizationError("no"))
    fail(b)
    assert b.state is CLOSED


def test_reports_from_before_the_circuit_opened_are_ignored() -> None:
    b, clock = make(threshold=2)
    slow = b.admit()
    fail(b, 2)
    assert b.state is OPEN
    slow.succeeded()  # admitted while closed; says nothing about now
    assert b.state is OPEN
    clock.now += 5
    trial = b.admit()
    slow.failed()
    assert b.state is HALF_OPEN and not b.allows()
    trial.succeeded()
    assert b.state is CLOSED


def test_an_admission_reports_once() -> None:
    b, _ = make(threshold=2)
    admission = b.admit()
    admission.failed()
    admission.failed()
    assert b.consecutive_failures == 1 and admission.reported


def test_guard_reports_the_outcome_of_the_block() -> None:
    b, _ = make(threshold=1)
    with b.guard():
        pass
    with pytest.raises(errors.ConnectionFailed), b.guard():
        raise errors.ConnectionFailed("gone")
    assert b.state is OPEN
    with pytest.raises(errors.CircuitOpenError), b.guard():
        pytest.fail("an open circuit must not run the block")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be an int >= 1"),
        ({"failure_threshold": True}, "failure_threshold must be an int >= 1"),
        ({"reset_timeout": 0}, "reset_timeout must be a finite number > 0"),
        ({"reset_timeout": float("inf")}, "reset_timeout must be a finite number > 0"),
    ],
)
def test_config_is_validated(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        breaker.BreakerConfig(**fields)  # type: ignore[arg-type]


class BreakerMachine(RuleBasedStateMachine):
    """Random admissions, reports and clock steps against a plain reference model."""

    admissions = Bundle("admissions")

    def __init__(self) -> None:
        super().__init__()
        self.threshold, self.reset = 3, 5.0
        self.breaker, self.clock = make(self.threshold, self.reset)
        # The model: mode, failures, when it opened, whether a trial is out, and a generation
        # that every state change bumps (an admission only counts in its own generation).
        self.mode = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.trial_out = False
        self.generation = 0
        self.meta: dict[int, tuple[int, bool]] = {}

    def _model_state(self) -> str:
        if self.mode == "open" and self.clock.now >= self.opened_at + self.reset:
            return "half-open"
        return self.mode

    def _change(self, mode: str) -> None:
        self.mode, self.trial_out = mode, False
        self.generation += 1
        if mode == "open":
            self.opened_at = self.clock.now
        if mode == "closed":
            self.failures = 0

    @rule(target=admissions)
    def admit(self) -> object:
        state = self._model_state()
        admits = state == "closed" or (state == "half-open" and not self.trial_out)
        if not admits:
            with pytest.raises(errors.CircuitOpenError):
                self.breaker.admit()
            return None
        admission = self.breaker.admit()
        trial = state == "half-open"
        if trial:
            if self.mode == "open":
                self._change("half-open")
            self.trial_out = True
        assert admission.trial == trial
        self.meta[id(admission)] = (self.generation, trial)
        return admission

    @rule(admission=admissions, verdict=st.sampled_from([True, False, None]))
    def report(self, admission: breaker.Admission | None, verdict: bool | None) -> None:
        if admission is None:
            return
        already = admission.reported
        {True: admission.succeeded, False: admission.failed, None: admission.abandoned}[verdict]()
        generation, trial = self.meta[id(admission)]
        if already or generation != self.generation:
            return
        if self.mode == "half-open" and trial:
            if verdict is None:
                self.trial_out = False
            else:
                self._change("closed" if verdict else "open")
        elif self.mode == "closed" and verdict is not None:
            self.failures = 0 if verdict else self.failures + 1
            if self.failures >= self.threshold:
                self._change("open")

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0, 6.0]))
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def state_matches_the_model(self) -> None:
        assert self.breaker.state.value == self._model_state()
        assert self.breaker.allows() == (
            self._model_state() == "closed"
            or (self._model_state() == "half-open" and not self.trial_out)
        )

    @invariant()
    def open_means_refusing_for_at_most_reset_timeout(self) -> None:
        if self.breaker.state is OPEN:
            assert 0 < self.breaker.retry_in() <= self.reset
        else:
            assert self.breaker.retry_in() == 0

    @invariant()
    def closed_means_under_threshold(self) -> None:
        if self.breaker.state is CLOSED:
            assert self.breaker.consecutive_failures < self.threshold


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
