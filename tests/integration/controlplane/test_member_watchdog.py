"""The liveness watchdog: a member that is alive but stops answering is killed, and its
supervisor starts it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from pilothouse.controlplane.etcdmember import EtcdMember
from pilothouse.testing.eventually import eventually_async


async def test_a_hung_member_is_killed_and_restarted(etcd_member: EtcdMember) -> None:
    assert etcd_member.supervised and await etcd_member.is_responsive()
    hung = etcd_member.pid
    assert hung is not None
    watchdog = asyncio.create_task(etcd_member.watchdog(interval=0.2, failures=2))
    try:

        async def probed() -> bool:
            return etcd_member.answered_pid == hung

        await eventually_async(probed, message="the watchdog saw the member answer")
        os.kill(hung, signal.SIGSTOP)  # alive, holding its ports, answering nothing

        async def replaced() -> bool:
            return etcd_member.pid != hung and await etcd_member.is_responsive()

        await eventually_async(replaced, timeout=30, message="the hung member was replaced")
        assert etcd_member.restarts >= 1
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)


async def test_a_responsive_member_is_left_alone(etcd_member: EtcdMember) -> None:
    pid = etcd_member.pid
    watchdog = asyncio.create_task(etcd_member.watchdog(interval=0.1, failures=1))
    try:

        async def probed_ten_times() -> bool:
            return etcd_member.probes >= 10

        # Every probe is answered (failures=1 would kill at the first miss), so nothing
        # may have been killed by the tenth.
        await eventually_async(probed_ten_times, message="ten watchdog probes")
        assert await etcd_member.is_responsive()
        assert etcd_member.pid == pid and etcd_member.restarts == 0
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
