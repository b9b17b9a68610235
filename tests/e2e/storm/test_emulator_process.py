"""``pilothouse storm nimbus-emulator`` as a real process: its start-up line, a clean exit
on SIGTERM, bad options, one leader per data dir, a SIGKILL mid-upload that must never
yield a submittable JAR, and a follower process taking over from a killed leader."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess

import pytest

from pilothouse.operators.storm.nimbus import connection, endpoint, errors
from pilothouse.operators.storm.nimbus.emulator import leadership
from pilothouse.testing import nimbus as testing_nimbus

T = 10.0


async def call(where: endpoint.Endpoint, method: str, **args: object) -> object:
    conn = await connection.Connection.open(where)
    try:
        return await conn.call(method, T, **args)
    finally:
        await conn.close()


def test_starts_announces_and_stops_cleanly_on_sigterm(tmp_path: pathlib.Path) -> None:
    proc = testing_nimbus.EmulatorProcess(tmp_path / "data").start()
    try:
        assert proc.lines == [f"nimbus emulator listening on 127.0.0.1:{proc.port} (leader)"]
        leader = asyncio.run(call(proc.endpoint, "getLeader"))
        assert getattr(leader, "port", None) == proc.port
    finally:
        code = proc.terminate()
    assert code == 0
    assert "stopped" in proc.log_path.read_text()
    # The lock went with the process.
    lock = leadership.LeaderLock(tmp_path / "data")
    assert lock.try_acquire()
    lock.release()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--supervisors", "-1"], "supervisors must be >= 0"),
        (["--follower-of", "a:b:c:d"], "bad Nimbus address"),
        (["--max-buffer-size", "10"], "max buffer size"),
        (["--failover-after", "0"], "failover after must be > 0"),
    ],
)
def test_bad_values_exit_2_with_a_clear_error(
    tmp_path: pathlib.Path, args: list[str], message: str
) -> None:
    command = testing_nimbus.EmulatorProcess(tmp_path, *args).command()
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_a_second_leader_on_the_same_data_dir_exits_1(tmp_path: pathlib.Path) -> None:
    with testing_nimbus.EmulatorProcess(tmp_path):
        command = testing_nimbus.EmulatorProcess(tmp_path).command()
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"another Nimbus emulator leads from {tmp_path}" in result.stderr


async def test_sigkill_mid_upload_never_yields_a_submittable_jar(tmp_path: pathlib.Path) -> None:
    proc = testing_nimbus.EmulatorProcess(tmp_path)
    await asyncio.to_thread(proc.start)
    try:
        conn = await connection.Connection.open(proc.endpoint)
        try:
            kept = await testing_nimbus.upload_jar(conn, b"PK-kept")
            await conn.call(
                "submitTopology",
                T,
                name="kept",
                uploadedJarLocation=kept,
                jsonConf="{}",
                topology=testing_nimbus.word_count_topology(),
            )
            location = await testing_nimbus.upload_jar(conn, b"x" * 700_000, finish=False)
        finally:
            await conn.close()
        assert await asyncio.to_thread(proc.kill) < 0
        await asyncio.to_thread(proc.restart)

        conn = await connection.Connection.open(proc.endpoint)
        try:
            missing = "File for that location does not exist (or timed out)"
            with pytest.raises(errors.ApplicationError, match=r"does not exist \(or timed out\)"):
                await conn.call("uploadChunk", T, location=location, chunk=b"more")
            with pytest.raises(errors.ApplicationError) as caught:
                await conn.call("finishFileUpload", T, location=location)
            assert caught.value.message == missing
            with pytest.raises(errors.ApplicationError, match="does not exist"):
                await conn.call(
                    "submitTopology",
                    T,
                    name="half",
                    uploadedJarLocation=location,
                    jsonConf="{}",
                    topology=testing_nimbus.word_count_topology(),
                )
            names = [s.name for s in await conn.call("getTopologySummaries", T)]
            assert names == ["kept"]
        finally:
            await conn.close()
        leftovers = await asyncio.to_thread(lambda: list((tmp_path / "inbox").glob("*.part")))
        assert leftovers == []
    finally:
        assert await asyncio.to_thread(proc.terminate) == 0


async def test_a_follower_process_takes_over_from_a_killed_leader(tmp_path: pathlib.Path) -> None:
    leader = testing_nimbus.EmulatorProcess(tmp_path)
    await asyncio.to_thread(leader.start)
    follower = testing_nimbus.EmulatorProcess(
        tmp_path,
        "--follower-of",
        str(leader.endpoint),
        "--failover-after",
        "0.5",
        "--probe-interval",
        "0.05",
    )
    try:
        await asyncio.to_thread(follower.start)
        assert follower.lines[0].endswith(f"(follower of {leader.endpoint})")
        with pytest.raises(errors.NotLeaderError) as caught:
            await call(follower.endpoint, "beginFileUpload")
        assert caught.value.leader == str(leader.endpoint)

        await asyncio.to_thread(leader.kill)  # the kernel drops its flock
        line = await asyncio.to_thread(follower.wait_for_line, testing_nimbus.PROMOTED, 30)
        assert line == f"{testing_nimbus.PROMOTED}{follower.endpoint}"
        now_leads = await call(follower.endpoint, "getLeader")
        assert getattr(now_leads, "port", None) == follower.port
        assert isinstance(await call(follower.endpoint, "beginFileUpload"), str)
    finally:
        if leader.running:
            await asyncio.to_thread(leader.kill)
        assert await asyncio.to_thread(follower.terminate) == 0
