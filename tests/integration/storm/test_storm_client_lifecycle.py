"""``NimbusClient`` against an in-process Nimbus emulator over real TCP: a topology's whole life.

Upload, submit a ``TopologySpec``, read it every way the client can, (de)activate,
rebalance, kill and resubmit; the JAR cache (a second submit of the same JAR uploads
nothing, and an upload Nimbus expired is uploaded again); and the refusals, typed.

The emulator's calls are counted at its method handlers (``Calls``), so "nothing was sent"
and "uploaded once" are checked where Nimbus would see them, not where the client
thinks it sent them. The emulator's clock is injected so that its inbox expiry can be
crossed without waiting.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import client as client_mod
from pilothouse.operators.storm.nimbus import errors, model, retry, topology
from pilothouse.operators.storm.nimbus.emulator import handler
from pilothouse.operators.storm.nimbus.emulator import server as server_mod
from pilothouse.testing import eventually
from pilothouse.testing import nimbus as testing_nimbus

FAST = retry.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


class Clock:
    """The emulator's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Calls:
    """Counts the Thrift calls the emulator's handlers run, by method name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        for name, entry in list(handler.METHODS.items()):
            counted = dataclasses.replace(entry, handler=self._counting(name, entry.handler))
            monkeypatch.setitem(handler.METHODS, name, counted)

    def _counting(self, name: str, run: handler.Handler) -> handler.Handler:
        async def counting(nimbus: Any, args: Any) -> Any:
            self.counts[name] += 1
            return await run(nimbus, args)

        return counting

    def total(self) -> int:
        return sum(self.counts.values())


def spec(name: str = "wordcount", workers: int = 2) -> topology.TopologySpec:
    return topology.parse(
        {
            "name": name,
            "workers": workers,
            "config": {"topology.debug": True},
            "spouts": {
                "words": {
                    "java": {"class": "org.example.WordSpout"},
                    "parallelism": 2,
                    "outputs": {"default": ["word"]},
                }
            },
            "bolts": {
                "count": {
                    "java": {"class": "org.example.CountBolt"},
                    "parallelism": 3,
                    "tasks": 6,  # room to rebalance up to 6 executors
                    "inputs": [{"component": "words", "grouping": "fields", "fields": ["word"]}],
                }
            },
        }
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls(monkeypatch)


@pytest.fixture
async def emulator(
    tmp_path: pathlib.Path, clock: Clock, calls: Calls
) -> AsyncIterator[server_mod.EmulatorServer]:
    async with testing_nimbus.running_emulator(tmp_path / "nimbus", clock=clock) as srv:
        yield srv


@pytest.fixture
async def nimbus(
    emulator: server_mod.EmulatorServer,
) -> AsyncIterator[client_mod.NimbusClient]:
    async with client_mod.NimbusClient.connect(
        [str(emulator.endpoint)], retry=FAST, call_timeout=10.0
    ) as c:
        yield c


@pytest.fixture
def jar(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "app.jar"
    # Several chunks, the last one short.
    path.write_bytes(b"PK\x03\x04" + os.urandom(700_000))
    return path


# Small files: reading them on the event loop costs less than a thread hop.
def contents(path: str | pathlib.Path) -> bytes:
    return pathlib.Path(path).read_bytes()


def exists(path: str | pathlib.Path) -> bool:
    return pathlib.Path(path).exists()


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(contents(path)).hexdigest()


async def test_a_topology_from_upload_to_kill(
    nimbus: client_mod.NimbusClient,
    emulator: server_mod.EmulatorServer,
    jar: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    before = await nimbus.cluster_info()
    assert before.topologies == () and before.slots_used == 0 and before.slots_total == 8
    assert before.leader is not None and before.leader.endpoint == str(emulator.endpoint)
    assert (await nimbus.leader()).is_leader
    assert await nimbus.is_topology_name_allowed("wordcount")

    uploaded = await nimbus.upload_jar(jar, use_cache=False)
    assert (uploaded.sha256, uploaded.size, uploaded.cached) == (sha256(jar), 700_004, False)
    assert contents(uploaded.location) == contents(jar)

    done = await nimbus.submit_topology(spec(), jar, initial_status="INACTIVE")
    assert done.summary.name == "wordcount" and done.id.startswith("wordcount-")
    assert done.summary.status == model.TopologyStatus.INACTIVE
    assert (done.summary.num_workers, done.summary.num_executors) == (2, 5)
    assert done.summary.num_tasks == 8

    [listed] = await nimbus.topology_summaries()
    assert listed.id == done.id
    assert await nimbus.topology_summary_by_name("wordcount") == listed
    assert not await nimbus.is_topology_name_allowed("wordcount")
    info = await nimbus.topology_info_by_name("wordcount")
    assert (info.id, info.name) == (done.id, "wordcount")
    assert info.components == {"words": 2, "count": 3}
    assert len(info.workers) == 2
    conf = await nimbus.topology_conf(done.id)
    assert conf["topology.workers"] == 2 and conf["topology.debug"] is True
    assert conf["topology.name"] == "wordcount"
    assert set((await nimbus.user_topology(done.id)).bolts) == {"count"}
    assert (await nimbus.nimbus_conf())["nimbus.thrift.port"] == emulator.endpoint.port
    after = await nimbus.cluster_info()
    assert after.slots_used == before.slots_used + 2
    assert after.topology("wordcount") == listed

    await nimbus.activate("wordcount")
    assert (await nimbus._require("wordcount")).status == model.TopologyStatus.ACTIVE
    await nimbus.deactivate("wordcount")
    await nimbus.deactivate("wordcount")  # a state, not a toggle: repeating it is harmless
    assert (await nimbus._require("wordcount")).status == model.TopologyStatus.INACTIVE
    await nimbus.activate("wordcount")

    await nimbus.rebalance("wordcount", wait_secs=0, num_workers=3, executors={"count": 6})

    async def rebalanced() -> model.TopologySummary | None:
        s = await nimbus.topology_summary_by_name("wordcount")
        ok = s is not None and s.status == "ACTIVE" and (s.num_workers, s.num_executors) == (3, 8)
        return s if ok else None

    await eventually.eventually_async(rebalanced, timeout=10, message="rebalance applied")
    assert (await nimbus.topology_info(done.id)).components == {"words": 2, "count": 6}
    assert (await nimbus.cluster_info()).slots_used == before.slots_used + 3

    downloaded = await nimbus.download_jar(done.id, tmp_path / "back.jar")
    assert downloaded.sha256 == sha256(jar)
    assert contents(tmp_path / "back.jar") == contents(jar)

    await nimbus.kill("wordcount", wait_secs=0)

    async def gone() -> bool:
        return await nimbus.topology_summary_by_name("wordcount") is None

    await eventually.eventually_async(gone, timeout=10, message="killed topology removed")
    assert await nimbus.is_topology_name_allowed("wordcount")
    assert (await nimbus.cluster_info()).slots_used == before.slots_used
    with pytest.raises(errors.NotAliveError):
        await nimbus.kill("wordcount", wait_secs=0)

    again = await nimbus.submit_topology(spec(), jar)
    assert again.id != done.id and again.summary.status == model.TopologyStatus.ACTIVE


async def test_the_same_jar_is_uploaded_once(
    nimbus: client_mod.NimbusClient, calls: Calls, jar: pathlib.Path
) -> None:
    first = await nimbus.submit_topology(spec("one"), jar)
    second = await nimbus.submit_topology(spec("two"), jar)
    assert (first.jar.cached, second.jar.cached) == (False, True)
    assert second.jar.location == first.jar.location
    assert calls.counts["beginFileUpload"] == 1 and calls.counts["finishFileUpload"] == 1
    assert calls.counts["submitTopologyWithOpts"] == 2
    assert {s.name for s in await nimbus.topology_summaries()} == {"one", "two"}
    stats = nimbus.jar_cache.stats()
    assert (stats.hits, stats.uploads) == (1, 1)


async def test_an_upload_nimbus_expired_is_uploaded_again_once(
    nimbus: client_mod.NimbusClient,
    emulator: server_mod.EmulatorServer,
    clock: Clock,
    calls: Calls,
    jar: pathlib.Path,
) -> None:
    first = await nimbus.submit_topology(spec("one"), jar)
    # The inbox expiry passes on Nimbus's clock; the client's cache (its own clock) still
    # holds the location.
    clock.now += emulator.config.inbox_expiration_secs + 1
    emulator.maintain()
    assert not exists(first.jar.location)

    second = await nimbus.submit_topology(spec("two"), jar)
    assert second.jar.cached is False and second.jar.location != first.jar.location
    assert second.jar.sha256 == first.jar.sha256 == sha256(jar)
    assert calls.counts["beginFileUpload"] == 2
    # The refused submit with the expired location, then the one that worked.
    assert calls.counts["submitTopologyWithOpts"] == 3
    assert nimbus.jar_cache.lookup(f"{nimbus.cluster}@{emulator.endpoint}", second.jar.sha256) == (
        second.jar.location
    )
    assert {s.name for s in await nimbus.topology_summaries()} == {"one", "two"}


async def test_refusals_are_typed(
    nimbus: client_mod.NimbusClient, calls: Calls, jar: pathlib.Path
) -> None:
    await nimbus.submit_topology(spec(), jar)
    with pytest.raises(errors.AlreadyAliveError, match="wordcount"):
        await nimbus.submit_topology(spec(), jar)
    for change in (
        lambda: nimbus.activate("nope"),
        lambda: nimbus.deactivate("nope"),
        lambda: nimbus.kill("nope", wait_secs=0),
        lambda: nimbus.rebalance("nope", wait_secs=0, num_workers=2),
    ):
        with pytest.raises(errors.NotAliveError, match="nope"):
            await change()
    with pytest.raises(errors.NotAliveError, match="nope"):
        await nimbus.topology_info_by_name("nope")
    with pytest.raises(errors.NotAliveError):
        await nimbus.topology_info("nope-1-1")
    assert await nimbus.topology_summary_by_name("nope") is None

    sent = calls.total()
    uploads = nimbus.jar_cache.stats()
    invalid = spec().model_copy(update={"name": "bad/name", "workers": 0})
    with pytest.raises(errors.TopologyError) as caught:
        await nimbus.submit_topology(invalid, jar)
    assert len(caught.value.problems) == 2
    with pytest.raises(errors.TopologyError):
        await nimbus.submit_topology(invalid, tmp_missing := jar.with_name("missing.jar"))
    assert not tmp_missing.exists()
    assert calls.total() == sent
    assert nimbus.jar_cache.stats() == uploads
