"""The controller's retry and requeue timing, on a controllable clock: exponential backoff
per key (5 ms doubling), reset on success, requeue_after, TerminalError not retried,
reconcile timeout counted as an error -- and metrics for each outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pilothouse.runtime import controller as controller_mod
from pilothouse.runtime import metrics as metrics_mod
from pilothouse.runtime import reconcile
from pilothouse.runtime.clock import FakeClock

REQ = reconcile.Request("ns", "a")


async def settle(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until ``cond`` holds (the fake clock does not move meanwhile)."""
    async with asyncio.timeout(timeout):
        while not cond():  # noqa: ASYNC110 -- yielding turns to the loop, not waiting on time
            await asyncio.sleep(0)


async def handled(ctrl: controller_mod.Controller, script: Script, n: int) -> None:
    """Until the n-th reconcile has run *and* its outcome has been acted on."""
    await settle(lambda: len(script.calls) == n and not ctrl.queue.is_processing(REQ))


async def idle(turns: int = 50) -> None:
    """Give the workers every chance to run something they should not."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Script:
    """A reconciler that plays back outcomes and records the fake time of each call."""

    def __init__(self, clock: FakeClock, outcomes: list[object]) -> None:
        self.clock = clock
        self.outcomes = outcomes
        self.calls: list[float] = []

    async def reconcile(self, request: reconcile.Request) -> reconcile.Result | None:
        self.calls.append(self.clock.now())
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "hang":
            await asyncio.Event().wait()
        assert outcome is None or isinstance(outcome, reconcile.Result)
        return outcome


async def started(script: Script, **kw: object) -> controller_mod.Controller:
    m = metrics_mod.RuntimeMetrics(process_metrics=False)
    ctrl = controller_mod.Controller("timing", script, clock=script.clock, metrics=m, **kw)  # type: ignore[arg-type]
    await ctrl.start()
    return ctrl


def count(ctrl: controller_mod.Controller, result: str) -> float:
    assert ctrl.metrics is not None
    return ctrl.metrics.reconcile_total.labels("timing", result)._value.get()


async def test_backoff_doubles_per_failure_and_resets_on_success() -> None:
    clock = FakeClock()
    boom = RuntimeError("boom")
    script = Script(clock, [boom, boom, boom, None, boom])
    ctrl = await started(script)
    ctrl.queue.add(REQ)
    await handled(ctrl, script, 1)
    for n, delay in enumerate((0.005, 0.010, 0.020), start=2):
        clock.advance(delay * 0.99)
        await idle()
        assert len(script.calls) == n - 1, f"retry {n} came before its {delay}s backoff"
        clock.advance(delay * 0.01 + 1e-9)
        await handled(ctrl, script, n)
    # The fourth call succeeded: backoff forgotten, so the next failure waits 5 ms again.
    assert ctrl.queue.num_requeues(REQ) == 0
    ctrl.queue.add(REQ)
    await handled(ctrl, script, 5)
    clock.advance(0.005)
    await handled(ctrl, script, 6)
    assert script.calls[5] - script.calls[4] == pytest.approx(0.005)
    assert count(ctrl, "error") == 4 and count(ctrl, "success") == 2
    await ctrl.stop(grace=1)


async def test_requeue_after_and_requeue() -> None:
    clock = FakeClock()
    script = Script(clock, [reconcile.Result(requeue_after=30), reconcile.Result(requeue=True)])
    ctrl = await started(script)
    ctrl.queue.add(REQ)
    await handled(ctrl, script, 1)
    clock.advance(29.9)
    await idle()
    assert len(script.calls) == 1
    clock.advance(0.1)
    await handled(ctrl, script, 2)
    clock.advance(0.005)  # requeue=True: rate limited, first retry 5 ms
    await handled(ctrl, script, 3)
    assert count(ctrl, "requeue_after") == 1 and count(ctrl, "requeue") == 1
    await ctrl.stop(grace=1)


async def test_terminal_error_is_not_retried_until_the_object_changes() -> None:
    clock = FakeClock()
    script = Script(clock, [reconcile.TerminalError("bad spec"), None])
    seen: list[reconcile.Request] = []
    ctrl = await started(script, on_terminal_error=lambda req, exc: seen.append(req))
    ctrl.queue.add(REQ)
    await handled(ctrl, script, 1)
    clock.advance(2000)
    await idle()
    assert len(script.calls) == 1 and seen == [REQ]
    assert ctrl.metrics is not None
    assert ctrl.metrics.terminal_reconcile_errors_total.labels("timing")._value.get() == 1
    ctrl.queue.add(REQ)  # the object changed: an event enqueues it again
    await settle(lambda: len(script.calls) == 2)
    await ctrl.stop(grace=1)


async def test_reconcile_timeout_counts_as_error_and_retries() -> None:
    clock = FakeClock()
    script = Script(clock, ["hang", None])
    ctrl = await started(script, reconcile_timeout=0.05)
    ctrl.queue.add(REQ)
    # The timeout is real time (it guards a real coroutine); the retry waits fake time.
    await settle(lambda: count(ctrl, "error") == 1 and not ctrl.queue.is_processing(REQ))
    clock.advance(0.005)
    await settle(lambda: len(script.calls) == 2)
    await ctrl.stop(grace=1)


async def test_same_key_never_reconciled_concurrently() -> None:
    clock = FakeClock()
    running: set[reconcile.Request] = set()
    overlaps = 0
    gate = asyncio.Event()
    calls = 0

    async def rec(req: reconcile.Request) -> None:
        nonlocal overlaps, calls
        calls += 1
        if req in running:
            overlaps += 1
        running.add(req)
        await gate.wait()
        running.discard(req)

    ctrl = controller_mod.Controller("c", rec, max_concurrent_reconciles=8, clock=clock)
    await ctrl.start()
    for _ in range(10):
        ctrl.queue.add(REQ)
        ctrl.queue.add(reconcile.Request("ns", "b"))
        await idle(5)
    assert calls == 2 and overlaps == 0
    gate.set()
    # Changes that arrived while it ran are merged into exactly one more reconcile each.
    await settle(lambda: calls == 4)
    await idle()
    assert calls == 4 and overlaps == 0
    await ctrl.stop(grace=1)


async def test_halt_cancels_in_flight_and_starts_nothing_new() -> None:
    clock = FakeClock()
    script = Script(clock, ["hang"])
    ctrl = await started(script)
    ctrl.queue.add(REQ)
    await settle(lambda: len(script.calls) == 1)
    ctrl.halt_now()
    ctrl.queue.add(reconcile.Request("ns", "other"))
    await ctrl.halt()
    assert len(script.calls) == 1


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrent_reconciles"):
        controller_mod.Controller("x", Script(FakeClock(), []), max_concurrent_reconciles=0)
    with pytest.raises(ValueError, match="reconcile_timeout"):
        controller_mod.Controller("x", Script(FakeClock(), []), reconcile_timeout=0)
    with pytest.raises(TypeError):
        controller_mod.Controller("x", lambda req: None)  # type: ignore[arg-type,return-value]


async def test_reconcilers_own_timeout_error_is_an_ordinary_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    script = Script(clock, [TimeoutError("slow dependency"), None])
    ctrl = await started(script, reconcile_timeout=30)
    ctrl.queue.add(REQ)
    await handled(ctrl, script, 1)
    assert "reconcile failed (retry 1): slow dependency" in caplog.text
    assert "exceeded" not in caplog.text
    clock.advance(0.005)
    await handled(ctrl, script, 2)
    await ctrl.stop(grace=1)
