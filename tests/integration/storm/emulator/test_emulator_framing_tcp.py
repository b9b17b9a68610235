"""The emulator's frame reader over real TCP, with a bare socket: calls cut into one-byte
writes or packed many to a write, a frame of exactly the limit, a negative length, fifty
pipelined chunks whose replies are read only at the end, and a client that reads no
replies at all, which must stop the emulator rather than make it buffer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import connection, wire
from pilothouse.operators.storm.nimbus.emulator import framing
from pilothouse.operators.storm.nimbus.emulator import server as server_mod
from pilothouse.testing import eventually
from pilothouse.testing import nimbus as testing_nimbus

T = 10.0
SMALL_FRAME = 64 * 1024


class Client:
    """A raw connection: frames written as given, replies read only when asked."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, srv: server_mod.EmulatorServer, rcvbuf: int | None = None) -> Client:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, (srv.endpoint.host, srv.endpoint.port))
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        return cls(reader, writer)

    @property
    def port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        async with asyncio.timeout(T):
            await self.writer.drain()

    async def reply(self, method: str, seqid: int) -> Any:
        async with asyncio.timeout(T):
            payload = await wire.read_frame(self.reader, 1 << 21)
        return wire.decode_reply(method, seqid, payload)

    async def at_eof(self) -> bool:
        async with asyncio.timeout(T):
            return await self.reader.read() == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the emulator aborted it
            await self.writer.wait_closed()


@pytest.fixture
async def client_of() -> AsyncIterator[list[Client]]:
    """Clients opened by a test, closed after it."""
    clients: list[Client] = []
    yield clients
    for client in clients:
        await client.close()


async def open_client(
    clients: list[Client], srv: server_mod.EmulatorServer, rcvbuf: int | None = None
) -> Client:
    client = await Client.open(srv, rcvbuf)
    clients.append(client)
    return client


def server_side(srv: server_mod.EmulatorServer, client: Client) -> framing.FramedConnection:
    (conn,) = [c for c in srv.open_connections if c.peer == f"127.0.0.1:{client.port}"]
    return conn


def file_bytes(path: str) -> bytes:
    """A sync helper, so the blocking-call check in async tests stays quiet."""
    return pathlib.Path(path).read_bytes()


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


async def test_a_call_cut_into_one_byte_writes_is_answered(
    tmp_path: pathlib.Path, client_of: list[Client]
) -> None:
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        client = await open_client(client_of, srv)
        calls = wire.encode_call("getLeader", 1) + wire.encode_call(
            "isTopologyNameAllowed", 2, name="x"
        )
        for i in range(len(calls)):
            await client.send(calls[i : i + 1])
        assert (await client.reply("getLeader", 1)).port == srv.endpoint.port
        assert await client.reply("isTopologyNameAllowed", 2) is True


async def test_many_calls_in_one_write_are_answered_in_order(
    tmp_path: pathlib.Path, client_of: list[Client]
) -> None:
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        client = await open_client(client_of, srv)
        await client.send(b"".join(wire.encode_call("getLeader", seqid) for seqid in range(40)))
        for seqid in range(40):
            assert (await client.reply("getLeader", seqid)).port == srv.endpoint.port


async def test_a_frame_of_exactly_the_limit_is_served_and_a_negative_length_closes(
    tmp_path: pathlib.Path, client_of: list[Client]
) -> None:
    async with testing_nimbus.running_emulator(tmp_path, max_frame=SMALL_FRAME) as srv:
        client = await open_client(client_of, srv)
        await client.send(wire.encode_call("beginFileUpload", 1))
        location = str(await client.reply("beginFileUpload", 1))
        empty = wire.encode_call("uploadChunk", 2, location=location, chunk=b"")
        chunk = os.urandom(SMALL_FRAME - (len(empty) - 4))
        full = wire.encode_call("uploadChunk", 2, SMALL_FRAME, location=location, chunk=chunk)
        assert struct.unpack(">i", full[:4]) == (SMALL_FRAME,)
        await client.send(full + wire.encode_call("finishFileUpload", 3, location=location))
        assert await client.reply("uploadChunk", 2) is None
        assert await client.reply("finishFileUpload", 3) is None
        assert file_bytes(location) == chunk

        await client.send(struct.pack(">i", -1) + wire.encode_call("getLeader", 4))
        assert await client.at_eof()


async def test_fifty_pipelined_chunks_with_replies_read_at_the_end(
    tmp_path: pathlib.Path, client_of: list[Client]
) -> None:
    async with testing_nimbus.running_emulator(tmp_path, max_frame=SMALL_FRAME) as srv:
        client = await open_client(client_of, srv)
        await client.send(wire.encode_call("beginFileUpload", 0))
        location = str(await client.reply("beginFileUpload", 0))
        chunks = [os.urandom(SMALL_FRAME - 200) for _ in range(50)]
        frames = [
            wire.encode_call("uploadChunk", seqid, SMALL_FRAME, location=location, chunk=chunk)
            for seqid, chunk in enumerate(chunks, start=1)
        ]
        # Over 3 MB, many times the emulator's buffer: it must take them all in turn while
        # no reply is read.
        sending = asyncio.create_task(client.send(b"".join(frames)))
        try:
            conn = server_side(srv, client)
            total = sum(map(len, chunks))

            async def all_written() -> bool:
                assert conn.buffered <= conn.capacity
                return file_size(location + ".part") == total

            await eventually.eventually_async(all_written, message="every chunk written")
            await sending
        finally:
            sending.cancel()
        for seqid in range(1, 51):
            assert await client.reply("uploadChunk", seqid) is None
        await client.send(wire.encode_call("finishFileUpload", 51, location=location))
        assert await client.reply("finishFileUpload", 51) is None
        assert file_bytes(location) == b"".join(chunks)


async def test_a_client_that_reads_no_replies_stops_the_emulator_not_its_memory(
    tmp_path: pathlib.Path, client_of: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    jar = os.urandom(16 * 1024 * 1024)
    async with testing_nimbus.running_emulator(tmp_path) as srv:
        uploader = await connection.Connection.open(srv.endpoint)
        try:
            location = await testing_nimbus.upload_jar(uploader, jar)
            await uploader.call(
                "submitTopology",
                T,
                name="big",
                uploadedJarLocation=location,
                jsonConf="{}",
                topology=testing_nimbus.word_count_topology(),
            )
            topology_id = (await uploader.call("getTopologySummaryByName", T, name="big")).id
            begin = await uploader.call("beginBlobDownload", T, key=f"{topology_id}-stormjar.jar")
        finally:
            await uploader.close()

        # 32 chunks of 512 KiB, then the empty one: far more than socket buffers hold.
        client = await open_client(client_of, srv, rcvbuf=16 * 1024)
        requests = 33
        await client.send(
            b"".join(
                wire.encode_call("downloadBlobChunk", seqid, session=begin.session)
                for seqid in range(requests)
            )
        )
        conn = server_side(srv, client)

        async def paused() -> bool:
            return conn.writing_paused

        await eventually.eventually_async(paused, message="the emulator stopped writing")
        # Stopped after the reply that passed asyncio's 64 KiB high-water mark: the requests
        # behind it wait, unread, in the receive buffer.
        assert conn.write_buffer_size <= 64 * 1024 + srv.config.max_frame + 4
        assert 0 < conn.buffered < requests * 100

        parts = [await client.reply("downloadBlobChunk", seqid) for seqid in range(requests)]
        assert parts[-1] == b""
        assert b"".join(p for p in parts if isinstance(p, bytes)) == jar

        # Paused again, then the server stops: it gives up on a peer that never reads.
        key = f"{topology_id}-stormjar.jar"
        await client.send(wire.encode_call("beginBlobDownload", 100, key=key))
        again = await client.reply("beginBlobDownload", 100)
        await client.send(
            b"".join(
                wire.encode_call("downloadBlobChunk", 101 + i, session=again.session)
                for i in range(requests)
            )
        )
        await eventually.eventually_async(paused, message="the emulator stopped writing again")
        monkeypatch.setattr(server_mod, "STOP_GRACE", 0.1)
        await srv.stop()
        assert srv.connections == 0
        assert conn.lost.done()
