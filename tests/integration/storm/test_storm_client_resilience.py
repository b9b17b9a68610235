"""``NimbusClient`` against Nimbus emulator *processes*: size, crashes, failover, load.

Real subprocesses, because what is tested is what happens across a process boundary:
a 200 MB JAR in flat client memory, an emulator SIGKILLed halfway through an upload
(no half-written JAR may ever be submitted), a leader killed under a client seeded with
it and its follower, a circuit breaker opening on a dead Nimbus and closing when it is
back on the same port, and a bounded pool under 64 concurrent calls, with the
connections counted where the emulator receives them (a counting proxy in front).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pathlib
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import breaker, connection, endpoint, errors, retry, topology
from pilothouse.operators.storm.nimbus import client as client_mod
from pilothouse.testing import eventually
from pilothouse.testing import nimbus as testing_nimbus

MB = 1 << 20
FAST = retry.RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)
QUICK_BREAKER = breaker.BreakerConfig(failure_threshold=3, reset_timeout=0.3)


def spec(name: str) -> topology.TopologySpec:
    return topology.parse(
        {
            "name": name,
            "workers": 1,
            "spouts": {"words": {"java": {"class": "W"}, "outputs": {"default": ["word"]}}},
            "bolts": {"count": {"java": {"class": "C"}, "inputs": [{"component": "words"}]}},
        }
    )


def sparse_jar(path: pathlib.Path, size: int) -> pathlib.Path:
    """A ``size``-byte file that costs no disk: holes, with random bytes every 8 MB.

    The markers sit at offsets that do not line up with upload chunks, so a chunk lost,
    repeated or out of order changes what the emulator stores.
    """
    with path.open("wb") as f:
        f.truncate(size)
        for n, offset in enumerate(range(0, size, 8 * MB)):
            f.seek(offset + 1009 * n)
            f.write(os.urandom(4096))
    return path


def same_bytes(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Compare two files in 4 MB blocks (cheaper than hashing them both)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while block := fa.read(4 * MB):
            if block != fb.read(len(block)):
                return False
    return True


def file_sha256(path: pathlib.Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def inbox(proc: testing_nimbus.EmulatorProcess, pattern: str) -> list[pathlib.Path]:
    return sorted((proc.data_dir / "inbox").glob(pattern))


@contextlib.asynccontextmanager
async def started(proc: testing_nimbus.EmulatorProcess) -> AsyncIterator[None]:
    await asyncio.to_thread(proc.start)
    try:
        yield
    finally:
        if proc.running:
            await asyncio.to_thread(proc.kill)


def connect(*seeds: endpoint.Endpoint, **options: Any) -> client_mod.NimbusClient:
    """A client over ``seeds`` that gives up quickly; ``options`` are ``PoolConfig`` fields."""
    defaults = {"retry": FAST, "connect_timeout": 2.0, "call_timeout": 10.0}
    return client_mod.NimbusClient.connect([str(s) for s in seeds], **(defaults | options))


async def test_a_200_mb_jar_uploads_in_flat_memory(tmp_path: pathlib.Path) -> None:
    jar = sparse_jar(tmp_path / "big.jar", 200 * MB)
    proc = testing_nimbus.EmulatorProcess(tmp_path / "nimbus")
    async with started(proc), connect(proc.endpoint) as nimbus:
        tracemalloc.start()
        try:
            uploaded = await nimbus.upload_jar(jar)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert uploaded.size == 200 * MB
        assert peak < 16 * MB, f"client tracemalloc peak {peak / MB:.1f} MB"
        stored = pathlib.Path(uploaded.location)
        assert stored.parent == proc.data_dir / "inbox"
        assert await asyncio.to_thread(same_bytes, stored, jar)


async def test_a_nimbus_killed_mid_upload_never_gets_a_partial_jar_submitted(
    tmp_path: pathlib.Path,
) -> None:
    jar = sparse_jar(tmp_path / "app.jar", 24 * MB)
    proc = testing_nimbus.EmulatorProcess(tmp_path / "nimbus")
    killed_at: list[int] = []

    def kill_at_30_percent(progress: Any) -> None:
        if not killed_at and progress.sent >= 0.3 * progress.total:
            killed_at.append(progress.sent)
            proc.kill()  # SIGKILL, and reaped: nothing the emulator can tidy up

    async with started(proc), connect(proc.endpoint, breaker=QUICK_BREAKER) as nimbus:
        with pytest.raises(errors.NimbusUnavailable):
            await nimbus.upload_jar(jar, progress=kill_at_30_percent)
        assert killed_at and killed_at[0] < jar.stat().st_size
        # The killed emulator left half an upload; its location (Storm names an upload by
        # where it will end up) must never be accepted for a submit.
        [partial] = inbox(proc, "stormjar-*")
        unfinished = str(partial).removesuffix(".part")
        assert nimbus.jar_cache.stats().entries == 0  # a failed upload is not cached

        await asyncio.to_thread(proc.start)
        with pytest.raises(errors.ApplicationError, match="does not exist"):
            await nimbus.submit("half", unfinished, spec("half").to_thrift(), {})
        assert inbox(proc, "stormjar-*") == []  # the restart cleared it away

        # Once the breaker lets calls through again, a fresh upload goes through whole.
        done = await nimbus.submit_topology(spec("whole"), jar)
        assert done.jar.cached is False
        assert done.jar.sha256 == await asyncio.to_thread(file_sha256, jar)
        fetched = await nimbus.download_jar(done.id, tmp_path / "back.jar")
        assert fetched.sha256 == done.jar.sha256
        assert await asyncio.to_thread(same_bytes, tmp_path / "back.jar", jar)
        assert [s.name for s in await nimbus.topology_summaries()] == ["whole"]


async def test_writes_follow_the_leader_to_its_follower(tmp_path: pathlib.Path) -> None:
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x03\x04" + os.urandom(100_000))
    data = tmp_path / "nimbus"
    leader = testing_nimbus.EmulatorProcess(data)
    follower = testing_nimbus.EmulatorProcess(
        data,
        "--follower-of",
        str(leader.endpoint),
        "--failover-after",
        "0.5",
        "--probe-interval",
        "0.05",
    )
    async with (
        started(leader),
        started(follower),  # after the leader: a follower with no leader soon takes over
        connect(leader.endpoint, follower.endpoint, breaker=QUICK_BREAKER) as nimbus,
    ):
        before = await nimbus.submit_topology(spec("before"), jar)
        assert nimbus.pool.cached_leader == leader.endpoint

        await asyncio.to_thread(leader.kill)

        async def follower_leads() -> bool:
            return (await nimbus.leader()).port == follower.port

        await eventually.eventually_async(follower_leads, timeout=20, interval=0.05)

        after = await nimbus.submit_topology(spec("after"), jar)
        assert nimbus.pool.cached_leader == follower.endpoint
        # Uploads are cached per leader: the new one has none of the old one's.
        assert after.jar.cached is False and after.jar.location != before.jar.location
        assert {s.name for s in await nimbus.topology_summaries()} == {"before", "after"}
        info = await nimbus.topology_info_by_name("before")
        assert info.id == before.id and info.components == {"words": 1, "count": 1}
        await nimbus.kill("before", wait_secs=0)  # and a write on what was written before
        assert await nimbus.topology_summary_by_name("before") is None


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[endpoint.Endpoint]:
    """Every connection attempt the client makes, successful or not."""
    attempts: list[endpoint.Endpoint] = []
    original = connection.Connection.open

    async def counted(where: endpoint.Endpoint, **kwargs: Any) -> connection.Connection:
        attempts.append(where)
        return await original(where, **kwargs)

    monkeypatch.setattr(connection.Connection, "open", counted)
    return attempts


async def test_the_breaker_opens_on_a_dead_nimbus_and_closes_when_it_is_back(
    tmp_path: pathlib.Path, connects: list[endpoint.Endpoint]
) -> None:
    proc = testing_nimbus.EmulatorProcess(tmp_path / "nimbus")
    once = retry.RetryPolicy(attempts=1)  # one attempt per call: each call is one verdict
    async with started(proc), connect(proc.endpoint, breaker=QUICK_BREAKER, retry=once) as nimbus:
        await nimbus.cluster_info()
        await asyncio.to_thread(proc.kill)

        failures = 0
        while True:
            try:
                await nimbus.cluster_info()
            except errors.CircuitOpenError as exc:
                opened = exc
                break
            except errors.ConnectionFailed:
                failures += 1
                assert failures <= QUICK_BREAKER.failure_threshold
        assert failures == QUICK_BREAKER.failure_threshold
        assert 0 < opened.retry_in <= QUICK_BREAKER.reset_timeout
        stats = nimbus.pool.stats().endpoints[proc.endpoint]
        assert stats.breaker is breaker.BreakerState.OPEN

        # While open, a call is refused without even trying to connect.
        attempts = len(connects)
        started_at = time.monotonic()
        with pytest.raises(errors.CircuitOpenError):
            await nimbus.cluster_info()
        assert len(connects) == attempts and time.monotonic() - started_at < 0.1

        await asyncio.to_thread(proc.start)  # same port

        async def answered() -> bool:
            try:
                await nimbus.cluster_info()
            except errors.CircuitOpenError:
                return False
            return True

        await eventually.eventually_async(answered, timeout=10, interval=0.05)
        stats = nimbus.pool.stats().endpoints[proc.endpoint]
        assert stats.breaker is breaker.BreakerState.CLOSED
        assert nimbus.pool.breaker(proc.endpoint).times_opened == 1


class CountingProxy:
    """A TCP relay on 127.0.0.1 in front of ``target`` that counts the connections it takes."""

    def __init__(self, target: endpoint.Endpoint) -> None:
        self.target = target
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> endpoint.Endpoint:
        assert self._server is not None
        return endpoint.Endpoint("127.0.0.1", self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        upstream: asyncio.StreamWriter | None = None
        try:
            up_reader, upstream = await asyncio.open_connection(self.target.host, self.target.port)
            await asyncio.gather(_copy(reader, upstream), _copy(up_reader, writer))
        finally:
            self._tasks.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    w.close()
                    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                        await w.wait_closed()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        writer.write_eof()


async def test_64_concurrent_calls_share_4_connections(tmp_path: pathlib.Path) -> None:
    proc = testing_nimbus.EmulatorProcess(tmp_path / "nimbus")
    async with started(proc), CountingProxy(proc.endpoint) as proxy:
        async with connect(proxy.endpoint, max_connections=4) as nimbus:
            answers = await asyncio.gather(*(nimbus.cluster_info() for _ in range(64)))
            assert all(a.slots_total == 8 for a in answers)
            stats = nimbus.pool.stats()
            assert stats.opened <= 4 and stats.endpoints[proxy.endpoint].peak_in_use == 4
            assert stats.opened + stats.reused == 64
        assert proxy.accepted <= 4
