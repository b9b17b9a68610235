"""Waiting for a condition with a deadline: the replacement for ``sleep`` in tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "condition not met",
) -> T:
    """Call ``check`` until it returns something truthy (returned) or raises no
    AssertionError; fail with the last error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout}s" + (f": {last}" if last else ""))
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T | None]],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "condition not met",
) -> T:
    """The async form of :func:`eventually`."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout}s" + (f": {last}" if last else ""))
        await asyncio.sleep(interval)
