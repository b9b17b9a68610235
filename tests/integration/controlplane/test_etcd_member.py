"""EtcdMember and the membership helpers against real etcd 3.5 processes on 127.0.0.1, plus
the supervisor's restart, backoff and shutdown rules against tiny fake "etcd" scripts (which
crash, hang or ignore SIGTERM on demand, without waiting for a real member)."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aetcd
import pytest

from pilothouse.controlplane import membership
from pilothouse.controlplane.etcdmember import (
    EtcdExited,
    EtcdMember,
    EtcdTimeout,
    MemberConfig,
)
from pilothouse.ports import free_ports
from pilothouse.testing.eventually import eventually, eventually_async

EtcdClusterFactory = Callable[..., Awaitable[list[EtcdMember]]]


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a container's init may not reap)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _async(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


def _client(member: EtcdMember) -> aetcd.Client:
    return aetcd.Client(host="127.0.0.1", port=member.config.client_port)


# --- one real member -------------------------------------------------------------------------


async def test_single_member_is_healthy_within_seconds(tmp_path: pathlib.Path) -> None:
    client_port, peer_port = free_ports(2)
    member = EtcdMember(MemberConfig("solo", tmp_path / "solo", client_port, peer_port))
    began = time.monotonic()
    await member.start()
    try:
        await member.wait_healthy(timeout=5.0)
        assert time.monotonic() - began < 5.0
        assert member.running and member.pid is not None and member.returncode is None
        assert await member.is_healthy()
        [only] = await membership.list_members(member.config.client_url)
        assert (only.name, only.peer_urls, only.is_learner) == (
            "solo",
            (member.config.peer_url,),
            False,
        )
    finally:
        await member.stop()


async def test_sigkilled_member_is_restarted_and_keeps_its_data(etcd_member: EtcdMember) -> None:
    async with _client(etcd_member) as client:
        await client.put(b"/survives", b"sigkill")
    old_pid = etcd_member.pid
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)

    async def restarted() -> bool:
        return etcd_member.restarts >= 1 and etcd_member.running and etcd_member.pid != old_pid

    await eventually_async(restarted, timeout=10.0, message="supervisor restarts etcd")
    await etcd_member.wait_healthy(timeout=10.0)
    async with _client(etcd_member) as client:
        got = await client.get(b"/survives")
    assert got is not None and got.value == b"sigkill"
    assert not _alive(old_pid)


async def test_stop_terminates_the_member_and_ends_supervision(etcd_member: EtcdMember) -> None:
    pid = etcd_member.pid
    assert pid is not None and etcd_member.supervised

    code = await etcd_member.stop(timeout=10.0)

    assert code == -signal.SIGTERM  # graceful: etcd re-raises SIGTERM after cleaning up
    assert not etcd_member.running and not etcd_member.supervised and not _alive(pid)
    assert etcd_member.restarts == 0
    assert await etcd_member.stop() == code  # idempotent
    assert not await etcd_member.is_healthy(timeout=0.5)


# --- real clusters ---------------------------------------------------------------------------


async def test_three_member_cluster_becomes_healthy(
    etcd_cluster_factory: EtcdClusterFactory,
) -> None:
    members = await etcd_cluster_factory(3)

    (dead_port,) = free_ports(1)
    endpoints = [f"http://127.0.0.1:{dead_port}"] + [m.config.client_url for m in members]
    listed = await membership.list_members(endpoints)  # fails over past the dead endpoint
    assert sorted(m.name for m in listed) == sorted(m.config.name for m in members)
    assert all(m.started and not m.is_learner for m in listed)

    async with _client(members[0]) as writer:
        await writer.put(b"/replicated", b"yes")
    async with _client(members[2]) as reader:
        got = await reader.get(b"/replicated")
    assert got is not None and got.value == b"yes"


async def test_add_a_fourth_member_then_remove_it(
    etcd_cluster_factory: EtcdClusterFactory, tmp_path: pathlib.Path
) -> None:
    members = await etcd_cluster_factory(3)
    endpoints = [m.config.client_url for m in members]
    client_port, peer_port = free_ports(2)
    peer_url = f"http://127.0.0.1:{peer_port}"

    # etcd refuses reconfiguration until all members have been connected for 5 s; add_member
    # retries until then.
    initial = await membership.add_member(endpoints, "etcd-new", peer_url, timeout=20.0)

    assert initial == {**{m.config.name: m.config.peer_url for m in members}, "etcd-new": peer_url}
    [pending] = [m for m in await membership.list_members(endpoints) if not m.started]
    assert (pending.name, pending.peer_urls, pending.client_urls) == ("", (peer_url,), ())
    # Retrying (an answer lost on the way) reuses the pending member instead of adding two.
    assert await membership.add_member(endpoints, "etcd-new", peer_url) == initial
    assert len(await membership.list_members(endpoints)) == 4
    with pytest.raises(membership.MembershipError, match="never started"):
        await membership.add_member(endpoints, "etcd-other", "http://127.0.0.1:1")
    # A member that never started has no name: it is removed by its peer URL.
    await membership.remove_member(endpoints, peer_url)
    assert all(m.started for m in await membership.list_members(endpoints))
    assert await membership.add_member(endpoints, "etcd-new", peer_url) == initial
    config = MemberConfig(
        "etcd-new",
        tmp_path / "etcd-new",
        client_port,
        peer_port,
        initial_cluster=initial,
        cluster_state="existing",
    )
    [new] = await etcd_cluster_factory([config])
    listed = {m.name: m for m in await membership.list_members(endpoints)}
    assert set(listed) == {*(m.config.name for m in members), "etcd-new"}
    assert listed["etcd-new"].client_urls == (config.client_url,)
    with pytest.raises(membership.AlreadyAMember):
        await membership.add_member(endpoints, "etcd-new", "http://127.0.0.1:1")

    await membership.remove_member(endpoints, "etcd-new", timeout=20.0)

    assert sorted(m.name for m in await membership.list_members(endpoints)) == sorted(
        m.config.name for m in members
    )
    # A removed member shuts itself down, cleanly.
    await eventually_async(
        _async(lambda: not new.running), timeout=10.0, message="removed member exits"
    )
    assert new.returncode == 0


async def test_removal_below_quorum_is_refused(etcd_cluster_factory: EtcdClusterFactory) -> None:
    members = await etcd_cluster_factory(3)
    survivor = members[0].config.client_url
    await asyncio.gather(members[1].stop(timeout=2.0), members[2].stop(timeout=2.0))

    with pytest.raises(membership.QuorumError, match="need 2 healthy for quorum, but only 0"):
        await membership.remove_member([survivor], members[2].config.name)
    with pytest.raises(membership.NotAMember, match="no member is called 'ghost'"):
        await membership.remove_member([survivor], "ghost")
    # Nothing was removed.
    assert len(await membership.list_members(survivor)) == 3


# --- supervision rules, with fake etcd binaries ----------------------------------------------


def _fake_etcd(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    script = tmp_path / "fake-etcd"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return script


def _fake_member(tmp_path: pathlib.Path, body: str, **kwargs: float) -> EtcdMember:
    client_port, peer_port = free_ports(2)
    config = MemberConfig("fake", tmp_path / "fake", client_port, peer_port)
    return EtcdMember(config, binary=_fake_etcd(tmp_path, body), **kwargs)


@pytest.fixture
async def stop_after() -> AsyncIterator[list[EtcdMember]]:
    members: list[EtcdMember] = []
    try:
        yield members
    finally:
        for member in members:
            await member.stop(timeout=1.0)


async def test_crash_loop_backs_off_and_logs_the_reason(
    tmp_path: pathlib.Path, stop_after: list[EtcdMember], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pilothouse.controlplane.etcdmember")
    member = _fake_member(tmp_path, "echo 'fatal: disk on fire' >&2\nexit 3\n")
    stop_after.append(member)
    await member.start(supervise=True)

    await eventually_async(
        _async(lambda: member.restarts >= 3), timeout=5.0, message="three restarts"
    )

    exits = [r.getMessage() for r in caplog.records if "exited with code" in r.getMessage()]
    delays = [float(m) for e in exits for m in re.findall(r"restart in ([0-9.]+)s", e)]
    assert delays[:3] == [0.1, 0.2, 0.4]
    assert "exited with code 3" in exits[0] and "fatal: disk on fire" in exits[0]
    assert member.supervised


async def test_clean_exit_is_not_restarted(tmp_path: pathlib.Path) -> None:
    member = _fake_member(tmp_path, "exit 0\n")
    await member.start(supervise=True)
    await eventually_async(
        _async(lambda: not member.supervised), timeout=5.0, message="supervision ends"
    )
    assert member.returncode == 0 and member.restarts == 0


async def test_etcd_variables_are_kept_out_of_the_members_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETCD_AUTO_COMPACTION_RETENTION", "1h")
    monkeypatch.setenv("PILOTHOUSE_TEST_MARKER", "passed-through")
    member = _fake_member(tmp_path, "env >&2\necho env-done >&2\nexit 0\n")
    await member.start()
    await eventually_async(_async(lambda: not member.running), message="script exits")
    log = "\n".join(member.log_tail(1000))
    assert "env-done" in log and "PILOTHOUSE_TEST_MARKER=passed-through" in log
    assert "ETCD_" not in log


async def test_waiting_on_an_exited_member_fails_fast_with_its_log(tmp_path: pathlib.Path) -> None:
    member = _fake_member(tmp_path, "echo 'bind: address already in use' >&2\nexit 1\n")
    await member.start()
    began = time.monotonic()
    with pytest.raises(EtcdExited, match="address already in use"):
        await member.wait_healthy(timeout=30.0)
    assert time.monotonic() - began < 5.0


async def test_waiting_times_out_on_a_silent_member(
    tmp_path: pathlib.Path, stop_after: list[EtcdMember]
) -> None:
    member = _fake_member(tmp_path, "exec sleep 60\n")
    stop_after.append(member)
    await member.start()
    with pytest.raises(EtcdTimeout, match=r"not serving within 0\.3s"):
        await member.wait_serving(timeout=0.3)


async def test_stop_kills_a_member_that_ignores_sigterm(tmp_path: pathlib.Path) -> None:
    member = _fake_member(tmp_path, "trap '' TERM\necho ready >&2\nexec sleep 60\n")
    await member.start(supervise=True)
    # Wait until the trap is installed, or SIGTERM could arrive before it.
    await eventually_async(
        _async(lambda: "ready" in member.log_tail()), timeout=5.0, message="script started"
    )
    assert await member.stop(timeout=0.3) == -signal.SIGKILL
    assert member.restarts == 0


async def test_cancelling_run_stops_the_member(tmp_path: pathlib.Path) -> None:
    member = _fake_member(tmp_path, "exec sleep 60\n")
    task = asyncio.create_task(member.run())
    await eventually_async(_async(lambda: member.running), message="run() spawns")
    pid = member.pid
    assert pid is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not member.running and not _alive(pid)


def test_member_dies_with_its_parent(tmp_path: pathlib.Path) -> None:
    """PDEATHSIG: SIGKILL of the supervising process (not its group) still kills etcd."""
    script = _fake_etcd(tmp_path, "exec sleep 60\n")
    ports = free_ports(2)
    parent_code = f"""
import asyncio, pathlib
from pilothouse.controlplane.etcdmember import EtcdMember, MemberConfig
async def main():
    data = pathlib.Path({str(tmp_path / "orphan")!r})
    config = MemberConfig("orphan", data, {ports[0]}, {ports[1]})
    member = EtcdMember(config, binary=pathlib.Path({str(script)!r}))
    await member.start(supervise=True)
    print(member.pid, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
    )
    child = None
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait()
        eventually(lambda: not _alive(child), timeout=5.0, message="child dies with its parent")
    finally:
        parent.kill()
        parent.communicate()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)  # the test failed; do not leak the orphan
