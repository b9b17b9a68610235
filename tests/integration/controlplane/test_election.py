"""LeaderElection against a real single-member etcd.

The ``etcd_endpoint`` fixture (conftest) starts one etcd process per module (each test uses its
own election prefix). A candidate's loss of etcd is simulated with a TCP proxy that stops
forwarding: the connection stays open and bytes are held, as in a network partition, so
the candidate learns nothing until its own deadline timer fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from pilothouse.controlplane.election import LeaderElection
from pilothouse.controlplane.etcd import Etcd
from pilothouse.testing.eventually import eventually_async


class _Proxy:
    """A TCP proxy that can stop forwarding without closing anything (a partition)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._forwarding = asyncio.Event()
        self._forwarding.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def pause(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            self._writers.append(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._forwarding.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        # Closing every socket ends the pipes with EOF; cancelling the handlers instead
        # would make asyncio's stream server log their CancelledError as an error.
        if self._server is not None:
            self._server.close()
        self.resume()
        for writer in self._writers:
            writer.close()
        async with asyncio.timeout(5):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclasses.dataclass
class _Harness:
    """Starts candidates on one election prefix and records gains and losses in order."""

    endpoint: str
    prefix: bytes
    timeline: list[tuple[float, str, str]] = dataclasses.field(default_factory=list)
    tasks: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    clients: list[Etcd] = dataclasses.field(default_factory=list)
    proxies: list[_Proxy] = dataclasses.field(default_factory=list)

    def client(self, endpoint: str | None = None, timeout: float = 1.0) -> Etcd:
        client = Etcd([endpoint or self.endpoint], timeout=timeout)
        self.clients.append(client)
        return client

    async def proxy(self) -> tuple[_Proxy, str]:
        proxy = _Proxy(self.endpoint)
        self.proxies.append(proxy)
        return proxy, await proxy.start()

    def start(self, name: str, *, endpoint: str | None = None, ttl: int = 2) -> LeaderElection:
        election = LeaderElection(self.client(endpoint), name, prefix=self.prefix, ttl=ttl)
        # Registered first, so the timeline is written before any other callback runs.
        election.on_gain(lambda: self.record(name, "gain"))
        election.on_loss(lambda: self.record(name, "loss"))
        self.tasks[name] = asyncio.create_task(election.run())
        return election

    def record(self, name: str, what: str) -> None:
        self.timeline.append((time.monotonic(), name, what))

    def times(self, name: str, what: str) -> list[float]:
        return [t for t, n, w in self.timeline if n == name and w == what]

    async def stop(self, name: str) -> None:
        task = self.tasks.pop(name)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def assert_no_overlap(self) -> None:
        """At no instant did two candidates both believe they led."""
        leader: str | None = None
        for t, name, what in self.timeline:
            if what == "gain":
                assert leader is None, f"{name} gained at {t} while {leader} still led"
                leader = name
            else:
                assert leader == name, f"{name} lost at {t} but {leader} was leading"
                leader = None


@pytest.fixture
async def harness(etcd_endpoint: str, request: pytest.FixtureRequest) -> AsyncIterator[_Harness]:
    h = _Harness(etcd_endpoint, f"/test-election/{request.node.name}/".encode())
    try:
        yield h
    finally:
        for proxy in h.proxies:
            proxy.resume()  # let stopping candidates reach etcd to revoke their leases
        for name in list(h.tasks):
            await h.stop(name)
        for proxy in h.proxies:
            await proxy.close()
        for client in h.clients:
            await client.close()


def _leaders(*elections: LeaderElection) -> list[LeaderElection]:
    return [e for e in elections if e.is_leader]


async def test_one_of_three_leads_and_the_others_see_it(harness: _Harness) -> None:
    a, b, c = (harness.start(n) for n in "abc")

    async def settled() -> bool:
        leaders = _leaders(a, b, c)
        return len(leaders) == 1 and {e.leader for e in (a, b, c)} == {leaders[0].identity}

    await eventually_async(settled, timeout=10, message="one leader seen by all")
    (leader,) = _leaders(a, b, c)
    async with asyncio.timeout(1):
        await leader.wait_leader()
    assert leader.leading.is_set() and leader.revision is not None
    assert all(e.revision is None and not e.leading.is_set() for e in (a, b, c) if e is not leader)
    assert len(harness.times(leader.identity, "gain")) == 1
    harness.assert_no_overlap()


async def test_cancelled_leader_hands_over_well_under_the_ttl(harness: _Harness) -> None:
    a = harness.start("a", ttl=3)
    await eventually_async(lambda: _async(a.is_leader), timeout=10, message="a leads")
    b, c = harness.start("b", ttl=3), harness.start("c", ttl=3)
    await eventually_async(
        lambda: _async(b.leader == c.leader == "a"), timeout=10, message="b, c see a"
    )
    stopped = time.monotonic()
    await harness.stop("a")
    assert not a.is_leader and harness.times("a", "loss")
    await eventually_async(lambda: _async(_leaders(b, c)), timeout=5, message="a successor")
    (successor,) = _leaders(b, c)
    handover = harness.times(successor.identity, "gain")[0] - stopped
    assert handover < 1.0, f"handover took {handover:.2f}s"
    harness.assert_no_overlap()
    remaining = await harness.client().range(harness.prefix, prefix=True)
    assert sorted(kv.value for kv in remaining.kvs) == [b"b", b"c"]


async def test_revoked_lease_loses_and_another_takes_over(harness: _Harness) -> None:
    a = harness.start("a")
    await eventually_async(lambda: _async(a.is_leader), timeout=10, message="a leads")
    b = harness.start("b")
    await eventually_async(lambda: _async(b.leader == "a"), timeout=10, message="b sees a")
    old_lease = a.lease
    assert old_lease is not None
    assert await harness.client().lease_revoke(old_lease)
    await eventually_async(lambda: _async(b.is_leader), timeout=5, message="b takes over")
    await eventually_async(
        lambda: _async(harness.times("a", "loss")), timeout=5, message="a's on_loss"
    )
    assert not a.is_leader
    # a campaigns again with a new lease, now behind b.
    await eventually_async(
        lambda: _async(a.leader == "b" and a.lease not in (None, old_lease)),
        timeout=10,
        message="a back in line behind b",
    )
    # No overlap check: an external revoke makes b leader at the very revision that deletes
    # a's key, and a learns of it from its own watch a moment later (see the module caveats).


async def test_cut_off_leader_steps_down_before_anyone_else_gains(harness: _Harness) -> None:
    proxy, via_proxy = await harness.proxy()
    a = harness.start("a", endpoint=via_proxy)
    seen_at_loss: list[bool] = []
    a.on_loss(lambda: seen_at_loss.append(a.is_leader))
    await eventually_async(lambda: _async(a.is_leader), timeout=10, message="a leads")
    b, c = harness.start("b"), harness.start("c")
    await eventually_async(
        lambda: _async(b.leader == c.leader == "a"), timeout=10, message="b, c see a"
    )

    cut = time.monotonic()
    proxy.pause()
    await eventually_async(lambda: _async(_leaders(b, c)), timeout=10, message="a successor")
    (successor,) = _leaders(b, c)
    lost = harness.times("a", "loss")
    assert lost, "a never noticed it was cut off"
    assert lost[0] - cut < a.ttl, f"a stepped down {lost[0] - cut:.2f}s after the cut"
    assert lost[0] < harness.times(successor.identity, "gain")[0]
    assert seen_at_loss == [False] and not a.is_leader and a.leader is None
    harness.assert_no_overlap()

    proxy.resume()
    await eventually_async(
        lambda: _async(a.leader == successor.identity and a.lease is not None),
        timeout=15,
        message="a rejoins as a follower",
    )
    harness.assert_no_overlap()


async def test_callback_exceptions_do_not_stop_the_election(
    harness: _Harness, caplog: pytest.LogCaptureFixture
) -> None:
    a = harness.start("a")
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("sync callback bug")

    async def broken_async() -> None:
        raise RuntimeError("async callback bug")

    async def fine_async() -> None:
        calls.append("async")

    for register in (a.on_gain, a.on_loss):
        register(broken)
        register(broken_async)
        register(fine_async)
    a.on_gain(lambda: calls.append("gain"))
    a.on_loss(lambda: calls.append("loss"))

    await eventually_async(lambda: _async(a.is_leader), timeout=10, message="a leads")
    b = harness.start("b")
    await eventually_async(lambda: _async(b.leader == "a"), timeout=10, message="b sees a")
    await a.resign()
    assert not a.is_leader
    await eventually_async(lambda: _async(b.is_leader), timeout=5, message="b takes over")
    await eventually_async(
        lambda: _async(calls.count("async") == 2), timeout=5, message="async callbacks ran"
    )
    assert calls.count("gain") == calls.count("loss") == 1
    # a keeps campaigning after its callbacks failed: it is back in line behind b.
    await eventually_async(lambda: _async(a.leader == "b"), timeout=10, message="a in line")
    logged = [r.getMessage() for r in caplog.records if r.exc_info]
    assert sum("callback" in m for m in logged) == 4
    harness.assert_no_overlap()


async def test_settings_are_validated(etcd_endpoint: str) -> None:
    async with Etcd([etcd_endpoint]) as client:
        with pytest.raises(ValueError, match="ttl"):
            LeaderElection(client, "a", ttl=1)
        with pytest.raises(ValueError, match="margin"):
            LeaderElection(client, "a", ttl=2, margin=1.5)
        with pytest.raises(ValueError, match="identity"):
            LeaderElection(client, "")
        assert LeaderElection(client, "a", prefix=b"/x").prefix == b"/x/"


async def _async(value: object) -> object:
    """Wrap a plain condition for eventually_async."""
    return value
