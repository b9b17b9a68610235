"""A topology's whole life on the emulator over real TCP with a bare Thrift connection:
upload, submit, read, (de)activate, rebalance, kill, resubmit; refusals; blob downloads;
and the timed rules on a fake clock."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
from collections.abc import AsyncIterator

import pytest

from pilothouse.operators.storm.nimbus import connection, errors, idl
from pilothouse.operators.storm.nimbus.emulator import server as server_mod
from pilothouse.testing import nimbus as testing_nimbus

S = idl.storm
T = 10.0  # per-call timeout


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emulator(tmp_path: pathlib.Path) -> AsyncIterator[server_mod.EmulatorServer]:
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        yield srv


@pytest.fixture
async def conn(emulator: server_mod.EmulatorServer) -> AsyncIterator[connection.Connection]:
    c = await connection.Connection.open(emulator.endpoint)
    yield c
    await c.close()


async def submit(
    conn: connection.Connection, name: str, conf: dict[str, object] | None = None, **opts: object
) -> str:
    location = await testing_nimbus.upload_jar(conn, b"PK\x03\x04" + os.urandom(1000))
    topology = testing_nimbus.word_count_topology()
    await conn.call(
        "submitTopologyWithOpts",
        T,
        name=name,
        uploadedJarLocation=location,
        jsonConf=json.dumps(conf or {}),
        topology=topology,
        options=S.SubmitOptions(initial_status=opts.get("initial_status", 1)),
    )
    summary = await conn.call("getTopologySummaryByName", T, name=name)
    return str(summary.id)


async def test_full_lifecycle(conn: connection.Connection) -> None:
    jar = os.urandom(1_000_000)  # four chunks, the last one short
    location = await testing_nimbus.upload_jar(conn, jar)
    topology = testing_nimbus.word_count_topology(spout_parallelism=2, bolt_parallelism=3)
    await conn.call(
        "submitTopology",
        T,
        name="word-count",
        uploadedJarLocation=location,
        jsonConf=json.dumps({"topology.workers": 3, "custom": "x"}),
        topology=topology,
    )
    assert not await conn.call("isTopologyNameAllowed", T, name="word-count")

    summary = await conn.call("getTopologySummaryByName", T, name="word-count")
    assert summary.id.startswith("word-count-1-")
    assert (summary.status, summary.num_workers, summary.num_executors, summary.num_tasks) == (
        "ACTIVE",
        3,
        5,
        5,
    )
    assert summary.sched_status == "Fully Scheduled"
    info = await conn.call("getTopologyInfo", T, id=summary.id)
    assert sorted((e.component_id, e.executor_info.task_start) for e in info.executors) == [
        ("count", 1),
        ("count", 2),
        ("count", 3),
        ("words", 4),
        ("words", 5),
    ]
    assert {(e.host, e.port) for e in info.executors} == {
        ("emulated-supervisor-0", 6700),
        ("emulated-supervisor-1", 6700),
        ("emulated-supervisor-0", 6701),
    }
    cluster = await conn.call("getClusterInfo", T)
    assert [(s.supervisor_id, s.num_workers, s.num_used_workers) for s in cluster.supervisors] == [
        ("emulated-supervisor-0", 4, 2),
        ("emulated-supervisor-1", 4, 1),
    ]
    assert [t.name for t in cluster.topologies] == ["word-count"]
    conf = json.loads(await conn.call("getTopologyConf", T, id=summary.id))
    assert conf["topology.name"] == "word-count" and conf["custom"] == "x"
    assert conf["topology.message.timeout.secs"] == 30
    assert await conn.call("getUserTopology", T, id=summary.id) == topology
    assert await conn.call("getTopology", T, id=summary.id) == topology

    await conn.call("deactivate", T, name="word-count")
    await conn.call("deactivate", T, name="word-count")  # idempotent
    assert (await conn.call("getTopologyInfo", T, id=summary.id)).status == "INACTIVE"
    await conn.call("activate", T, name="word-count")
    assert (await conn.call("getTopologyInfo", T, id=summary.id)).status == "ACTIVE"

    options = S.RebalanceOptions(
        wait_secs=0,
        num_workers=1,
        num_executors={"count": 1},
        topology_conf_overrides=json.dumps({"custom": "y"}),
    )
    await conn.call("rebalance", T, name="word-count", options=options)
    rebalanced = await conn.call("getTopologySummaryById", T, id=summary.id)
    assert (rebalanced.status, rebalanced.num_workers, rebalanced.num_executors) == ("ACTIVE", 1, 3)
    assert rebalanced.num_tasks == 5  # tasks never change
    assert json.loads(await conn.call("getTopologyConf", T, id=summary.id))["custom"] == "y"
    page = await conn.call(
        "getSupervisorPageInfo", T, id=None, host="emulated-supervisor-0", is_include_sys=False
    )
    assert [(w.topology_name, w.num_executors) for w in page.worker_summaries] == [
        ("word-count", 3)
    ]
    assert page.worker_summaries[0].component_to_num_tasks == {"count": 3, "words": 2}

    await conn.call(
        "killTopologyWithOpts", T, name="word-count", options=S.KillOptions(wait_secs=0)
    )
    with pytest.raises(errors.NotAliveError, match=summary.id):
        await conn.call("getTopologyInfo", T, id=summary.id)
    assert await conn.call("getTopologySummaries", T) == []
    cluster = await conn.call("getClusterInfo", T)
    assert sum(s.num_used_workers for s in cluster.supervisors) == 0
    assert await conn.call("isTopologyNameAllowed", T, name="word-count")

    again = await submit(conn, "word-count")
    assert again.startswith("word-count-2-")


async def test_refusals(conn: connection.Connection) -> None:
    await submit(conn, "taken")
    location = await testing_nimbus.upload_jar(conn, b"jar")
    good = testing_nimbus.word_count_topology()

    async def attempt(
        name: str, conf: str = "{}", topology: object = good, where: str = location
    ) -> None:
        await conn.call(
            "submitTopology",
            T,
            name=name,
            uploadedJarLocation=where,
            jsonConf=conf,
            topology=topology,
        )

    with pytest.raises(
        errors.AlreadyAliveError, match="Topology with name `taken` already exists on cluster"
    ):
        await attempt("taken")
    with pytest.raises(errors.InvalidTopologyError, match="Topology name must match"):
        await attempt("a.b")
    with pytest.raises(errors.InvalidTopologyError, match="JSON object"):
        await attempt("t", conf="[1]")
    with pytest.raises(errors.InvalidTopologyError, match=r"topology\.workers"):
        await attempt("t", conf='{"topology.workers": 0}')
    broken = testing_nimbus.word_count_topology()
    broken.bolts["count"].common.inputs = {
        S.GlobalStreamId(componentId="x", streamId="default"): S.Grouping(shuffle=S.NullStruct())
    }
    with pytest.raises(
        errors.InvalidTopologyError, match=r"\[count\] subscribes from non-existent component \[x\]"
    ):
        await attempt("t", topology=broken)
    unfinished = await testing_nimbus.upload_jar(conn, b"half", finish=False)
    with pytest.raises(errors.ApplicationError, match="does not exist") as caught:
        await attempt("t", where=unfinished)
    assert unfinished in caught.value.message
    with pytest.raises(errors.ApplicationError, match="does not exist"):
        await attempt("t", where="/etc/passwd")
    # The good upload was not consumed by the refusals, nor by a submission: as in Storm, an
    # uploaded JAR stays in the inbox until it expires and can back several topologies.
    await attempt("t")
    await attempt("t2")

    for method in ("killTopology", "activate", "deactivate"):
        with pytest.raises(errors.NotAliveError, match="ghost"):
            await conn.call(method, T, name="ghost")
    with pytest.raises(errors.NotAliveError, match="ghost"):
        await conn.call("rebalance", T, name="ghost", options=S.RebalanceOptions(wait_secs=0))
    with pytest.raises(errors.InvalidTopologyError, match="unknown component"):
        await conn.call(
            "rebalance", T, name="t", options=S.RebalanceOptions(num_executors={"nope": 1})
        )
    with pytest.raises(errors.InvalidTopologyError, match="topology_conf_overrides"):
        await conn.call(
            "rebalance", T, name="t", options=S.RebalanceOptions(topology_conf_overrides="{")
        )
    for method in ("getTopologyInfo", "getTopologyConf", "getTopology", "getUserTopology"):
        with pytest.raises(errors.NotAliveError, match=r"^nope-1-1$"):
            await conn.call(method, T, id="nope-1-1")
    with pytest.raises(errors.ApplicationError, match=r"^NotAliveException: ghost$"):
        await conn.call("getTopologySummaryByName", T, name="ghost")
    with pytest.raises(errors.ApplicationError, match="File for that location does not exist"):
        await conn.call("uploadChunk", T, location="/nowhere/stormjar-x.jar", chunk=b"x")
    with pytest.raises(errors.ApplicationError, match="File for that location does not exist"):
        await conn.call("finishFileUpload", T, location="/nowhere/stormjar-x.jar")
    assert not conn.broken  # rejections leave the connection usable


async def test_blobs_of_a_submitted_topology_download_intact(conn: connection.Connection) -> None:
    jar = os.urandom(1_300_000)
    location = await testing_nimbus.upload_jar(conn, jar)
    topology = testing_nimbus.word_count_topology()
    await conn.call(
        "submitTopology",
        T,
        name="blobs",
        uploadedJarLocation=location,
        jsonConf="{}",
        topology=topology,
    )
    topology_id = (await conn.call("getTopologySummaryByName", T, name="blobs")).id

    async def download(key: str) -> bytes:
        begin = await conn.call("beginBlobDownload", T, key=key)
        parts = []
        while chunk := await conn.call("downloadBlobChunk", T, session=begin.session):
            assert len(chunk) <= 512 * 1024
            parts.append(chunk)
        data = b"".join(parts)
        assert len(data) == begin.data_size
        return data

    assert await download(f"{topology_id}-stormjar.jar") == jar
    assert json.loads(await download(f"{topology_id}-stormconf.ser"))["topology.name"] == "blobs"
    code = await download(f"{topology_id}-stormcode.ser")
    assert code and b"words" in code
    with pytest.raises(errors.KeyNotFoundError, match=r"nope-stormjar\.jar"):
        await conn.call("beginBlobDownload", T, key="nope-stormjar.jar")
    with pytest.raises(errors.ApplicationError, match="does not exist"):
        await conn.call("downloadBlobChunk", T, session="no-such-session")


async def test_timed_kill_and_upload_expiry_follow_the_clock(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    async with testing_nimbus.running_emulator(tmp_path, clock=clock) as srv:
        conn = await connection.Connection.open(srv.endpoint)
        try:
            topology_id = await submit(conn, "slow", {"topology.message.timeout.secs": 45})
            assert topology_id == f"slow-1-{int(clock.now)}"
            await conn.call("killTopology", T, name="slow")  # waits topology.message.timeout.secs
            killed = await conn.call("getTopologySummaryById", T, id=topology_id)
            assert killed.status == "KILLED"
            assert not await conn.call("isTopologyNameAllowed", T, name="slow")
            # A killed topology is still there: its name cannot be reused, it cannot be rebalanced.
            with pytest.raises(errors.AlreadyAliveError):
                await submit(conn, "slow")
            with pytest.raises(errors.NotAliveError):
                await conn.call("rebalance", T, name="slow", options=S.RebalanceOptions())
            await conn.call("activate", T, name="slow")  # no change on KILLED
            clock.now += 44
            srv.maintain()
            assert (await conn.call("getTopologySummaryById", T, id=topology_id)).status == "KILLED"
            clock.now += 2
            srv.maintain()
            assert await conn.call("getTopologySummaries", T) == []

            location = await testing_nimbus.upload_jar(conn, b"abc", finish=False)
            clock.now += 601
            with pytest.raises(errors.ApplicationError, match=r"does not exist \(or timed out\)"):
                await conn.call("uploadChunk", T, location=location, chunk=b"d")

            finished = await testing_nimbus.upload_jar(conn, b"abc")
            clock.now += 3601
            srv.maintain()  # the sweep deletes the unsubmitted JAR
            assert srv.nimbus.inbox.sessions == 0
            with pytest.raises(errors.ApplicationError, match="does not exist"):
                await conn.call(
                    "submitTopology",
                    T,
                    name="late",
                    uploadedJarLocation=finished,
                    jsonConf="{}",
                    topology=testing_nimbus.word_count_topology(),
                )
        finally:
            await conn.close()


async def test_many_connections_at_once(emulator: server_mod.EmulatorServer) -> None:
    conns = [await connection.Connection.open(emulator.endpoint) for _ in range(20)]
    try:
        leaders = await asyncio.gather(*(c.call("getLeader", T) for c in conns))
        assert {(n.port, n.isLeader) for n in leaders} == {(emulator.endpoint.port, True)}
        assert emulator.connections == 20
    finally:
        for c in conns:
            await c.close()
