"""The emulator's Thrift transport over real TCP: the frame limit closes a connection like
Java's TFramedTransport, unknown methods and garbage, pipelined uploads, and a stop that
closes every client connection."""

from __future__ import annotations

import asyncio
import os
import pathlib
import struct

import pytest
from thriftpy2.thrift import TApplicationException

from pilothouse.operators.storm.nimbus import connection, errors, wire
from pilothouse.testing import nimbus as testing_nimbus

T = 10.0
SMALL_FRAME = 64 * 1024


def file_bytes(path: str) -> bytes | None:
    """What ``path`` holds (None: no such file); a sync helper so the loop check stays quiet."""
    try:
        return pathlib.Path(path).read_bytes()
    except FileNotFoundError:
        return None


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(T):
        return await reader.read()


async def test_a_frame_over_the_limit_closes_only_that_connection(tmp_path: pathlib.Path) -> None:
    async with testing_nimbus.running_emulator(tmp_path, max_frame=SMALL_FRAME) as srv:
        bystander = await connection.Connection.open(srv.endpoint)
        reader, writer = await asyncio.open_connection(srv.endpoint.host, srv.endpoint.port)
        try:
            # Announce a frame one byte over the limit: the server hangs up without reading it.
            writer.write(struct.pack(">i", SMALL_FRAME + 1))
            await writer.drain()
            assert await read_to_eof(reader) == b""

            # The same through the client: a frame the client allows but the server does not.
            big = await connection.Connection.open(srv.endpoint, max_frame=4 * SMALL_FRAME)
            location = await big.call("beginFileUpload", T)
            with pytest.raises(errors.ConnectionFailed):
                await big.call("uploadChunk", T, location=location, chunk=b"x" * SMALL_FRAME)
            assert big.broken
            await big.close()

            # Frames at the limit are fine, and other connections never noticed.
            chunk = b"y" * (SMALL_FRAME - 200)
            location = await bystander.call("beginFileUpload", T)
            await bystander.call("uploadChunk", T, location=location, chunk=chunk)
            await bystander.call("finishFileUpload", T, location=location)
            assert file_bytes(location) == chunk
        finally:
            writer.close()
            await writer.wait_closed()
            await bystander.close()


async def test_unknown_methods_keep_the_connection_and_garbage_closes_it(
    tmp_path: pathlib.Path,
) -> None:
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        reader, writer = await asyncio.open_connection(srv.endpoint.host, srv.endpoint.port)
        try:
            unknown = wire.encode_call("getLeader", 5)[4:].replace(b"getLeader", b"getLeadex")
            writer.write(struct.pack(">i", len(unknown)) + unknown)
            await writer.drain()
            reply = await wire.read_frame(reader)
            with pytest.raises(errors.ApplicationError, match="Invalid method name") as caught:
                wire.decode_reply("getLeadex", 5, reply)
            assert caught.value.kind == TApplicationException.UNKNOWN_METHOD

            writer.write(wire.encode_call("getLeader", 6))  # still in step
            await writer.drain()
            leader = wire.decode_reply("getLeader", 6, await wire.read_frame(reader))
            assert leader.port == srv.endpoint.port

            writer.write(struct.pack(">i", 5) + b"hello")
            await writer.drain()
            assert await read_to_eof(reader) == b""
        finally:
            writer.close()
            await writer.wait_closed()


async def test_a_pipelined_upload_arrives_whole_and_in_order(tmp_path: pathlib.Path) -> None:
    data = os.urandom(5 * testing_nimbus.STORM_CHUNK + 123)
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        conn = await connection.Connection.open(srv.endpoint)
        try:
            location = await conn.call("beginFileUpload", T)

            async def chunks():  # type: ignore[no-untyped-def]
                for start in range(0, len(data), testing_nimbus.STORM_CHUNK):
                    yield {
                        "location": location,
                        "chunk": data[start : start + testing_nimbus.STORM_CHUNK],
                    }

            assert await conn.pipeline("uploadChunk", T, chunks(), 4) == 6
            await conn.call("finishFileUpload", T, location=location)
            assert file_bytes(location) == data
        finally:
            await conn.close()


async def test_stop_closes_client_connections(tmp_path: pathlib.Path) -> None:
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        conn = await connection.Connection.open(srv.endpoint)
        location = await testing_nimbus.upload_jar(conn, b"abc", finish=False)
        await srv.stop()
        try:
            with pytest.raises(errors.ConnectionFailed):
                await conn.call("getLeader", T)
        finally:
            await conn.close()
        assert srv.connections == 0
        # The abandoned upload left nothing behind.
        assert file_bytes(location + ".part") is None
        await srv.stop()  # idempotent
