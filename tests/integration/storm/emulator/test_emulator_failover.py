"""Leaders and followers over real TCP: a follower refuses writes naming the leader, reads
the leader's state, and takes over once the leader is gone; one leader per data dir; and
state that survives a stop and start."""

from __future__ import annotations

import json
import pathlib
import re
import time

import pytest

from pilothouse import ports
from pilothouse.operators.storm.nimbus import connection, endpoint, errors, idl
from pilothouse.operators.storm.nimbus.emulator import leadership
from pilothouse.testing import eventually
from pilothouse.testing import nimbus as testing_nimbus

S = idl.storm
T = 10.0
FAST = {"failover_after": 0.5, "probe_interval": 0.05}


async def submit(conn: connection.Connection, name: str, jar: bytes = b"PK") -> str:
    location = await testing_nimbus.upload_jar(conn, jar)
    await conn.call(
        "submitTopology",
        T,
        name=name,
        uploadedJarLocation=location,
        jsonConf=json.dumps({"topology.workers": 2}),
        topology=testing_nimbus.word_count_topology(),
    )
    return str((await conn.call("getTopologySummaryByName", T, name=name)).id)


async def test_a_follower_defers_to_its_leader_then_takes_over(tmp_path: pathlib.Path) -> None:
    async with (
        testing_nimbus.running_emulator(tmp_path) as leader,
        testing_nimbus.running_emulator(tmp_path, follower_of=leader.endpoint, **FAST) as follower,
    ):
        assert not follower.is_leader and follower.role == f"follower of {leader.endpoint}"
        to_leader = await connection.Connection.open(leader.endpoint)
        to_follower = await connection.Connection.open(follower.endpoint)
        try:
            topology_id = await submit(to_leader, "shared")
            # Reads on the follower see what the leader persisted.
            summary = await to_follower.call("getTopologySummaryById", T, id=topology_id)
            assert summary.name == "shared"
            for method, args in [
                ("beginFileUpload", {}),
                ("killTopology", {"name": "shared"}),
                ("activate", {"name": "shared"}),
            ]:
                with pytest.raises(errors.NotLeaderError) as caught:
                    await to_follower.call(method, T, **args)
                assert caught.value.leader == str(leader.endpoint)
            named = await to_follower.call("getLeader", T)
            assert (named.host, named.port, named.isLeader) == (
                leader.endpoint.host,
                leader.endpoint.port,
                True,
            )
            cluster = await to_leader.call("getClusterInfo", T)
            assert {(n.port, n.isLeader) for n in cluster.nimbuses} == {
                (leader.endpoint.port, True),
                (follower.endpoint.port, False),
            }
            conf = json.loads(await to_follower.call("getNimbusConf", T))
            assert conf["nimbus.thrift.port"] == follower.endpoint.port
        finally:
            await to_leader.close()

        stopped = time.monotonic()
        await leader.stop()
        try:

            async def leads() -> bool:
                got = await to_follower.call("getLeader", T)
                return bool(got.port == follower.endpoint.port and got.isLeader)

            await eventually.eventually_async(
                leads, timeout=FAST["failover_after"] + 5, message="follower took over"
            )
            # Not before the leader had been gone failover_after (counted from the last good probe).
            waited = time.monotonic() - stopped
            assert waited >= FAST["failover_after"] - 2 * FAST["probe_interval"]
            assert follower.is_leader and follower.promoted.is_set()
            # It now accepts writes, and has the leader's topologies.
            await to_follower.call(
                "killTopologyWithOpts", T, name="shared", options=S.KillOptions(wait_secs=0)
            )
            again = await submit(to_follower, "shared")
            assert again.startswith("shared-2-")
        finally:
            await to_follower.close()


async def test_one_leader_per_data_dir(tmp_path: pathlib.Path) -> None:
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        with pytest.raises(
            leadership.LeadershipError,
            match=f"another Nimbus emulator leads from {re.escape(str(tmp_path))}",
        ):
            async with testing_nimbus.running_emulator(tmp_path):
                pass
        assert srv.is_leader
    # Stopping released the lock.
    async with testing_nimbus.running_emulator(tmp_path) as again:
        assert again.is_leader


async def test_a_follower_with_its_own_dir_takes_over_an_unreachable_leader(
    tmp_path: pathlib.Path,
) -> None:
    # Nothing listens there: the lock in its own directory is free, so it leads soon.
    dead = ports.free_port()
    async with testing_nimbus.running_emulator(
        tmp_path, follower_of=endpoint.Endpoint("127.0.0.1", dead), **FAST
    ) as follower:
        await eventually.eventually_async(
            lambda: _promoted(follower), timeout=FAST["failover_after"] + 5
        )
        assert follower.leader == follower.endpoint


async def _promoted(server: object) -> bool:
    return bool(getattr(server, "is_leader", False))


async def test_state_survives_stop_and_start_on_another_port(tmp_path: pathlib.Path) -> None:
    jar = b"PK" + bytes(range(256)) * 3000
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        conn = await connection.Connection.open(srv.endpoint)
        try:
            kept = await submit(conn, "kept", jar)
            await conn.call("deactivate", T, name="kept")
            await submit(conn, "dying")
            await conn.call(
                "killTopologyWithOpts", T, name="dying", options=S.KillOptions(wait_secs=300)
            )
            unfinished = await testing_nimbus.upload_jar(conn, b"half", finish=False)
            first_port = srv.endpoint.port
        finally:
            await conn.close()
    other_port = ports.free_port()
    while other_port == first_port:
        other_port = ports.free_port()
    async with testing_nimbus.running_emulator(tmp_path, port=other_port) as srv:
        conn = await connection.Connection.open(srv.endpoint)
        try:
            summaries = {s.name: s for s in await conn.call("getTopologySummaries", T)}
            assert (summaries["kept"].id, summaries["kept"].status) == (kept, "INACTIVE")
            assert summaries["dying"].status == "KILLED"  # its deadline carried over
            cluster = await conn.call("getClusterInfo", T)
            assert sum(s.num_used_workers for s in cluster.supervisors) == 4
            begin = await conn.call("beginBlobDownload", T, key=f"{kept}-stormjar.jar")
            data = b""
            while chunk := await conn.call("downloadBlobChunk", T, session=begin.session):
                data += chunk
            assert data == jar
            with pytest.raises(
                errors.ApplicationError, match="File for that location does not exist"
            ):
                await conn.call("uploadChunk", T, location=unfinished, chunk=b"x")
            assert (await submit(conn, "next")).startswith("next-3-")  # the counter persisted
        finally:
            await conn.close()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_restart_resumes_deadlines_and_clears_unfinished_uploads(
    tmp_path: pathlib.Path,
) -> None:
    clock = Clock(1_700_000_000.0)
    async with testing_nimbus.running_emulator(tmp_path, clock=clock) as srv:
        conn = await connection.Connection.open(srv.endpoint)
        try:
            await submit(conn, "rebalancing")
            options = S.RebalanceOptions(wait_secs=100, num_workers=1)
            await conn.call("rebalance", T, name="rebalancing", options=options)
            await submit(conn, "dying")
            await conn.call(
                "killTopologyWithOpts", T, name="dying", options=S.KillOptions(wait_secs=100)
            )
        finally:
            await conn.close()
    leftover = tmp_path / "inbox" / "stormjar-left-over.jar.part"
    leftover.write_bytes(b"half an upload")
    clock.now += 101  # the deadlines pass while the emulator is down
    async with testing_nimbus.running_emulator(tmp_path, clock=clock) as srv:
        assert not leftover.exists()
        conn = await connection.Connection.open(srv.endpoint)
        try:
            summaries = await conn.call("getTopologySummaries", T)
            assert [(s.name, s.status, s.num_workers) for s in summaries] == [
                ("rebalancing", "ACTIVE", 1)
            ]
        finally:
            await conn.close()
