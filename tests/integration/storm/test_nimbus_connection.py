"""One Thrift connection over real TCP: calls, failures, and pipelining."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import connection, endpoint, errors, idl, wire

Handler = Callable[[wire.Call, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[endpoint.Endpoint]:
    """A server that hands each decoded call to ``handler``; False closes the connection."""
    writers: list[asyncio.StreamWriter] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                call = wire.decode_call(await wire.read_frame(reader))
                if not await handler(call, reader, writer):
                    break
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield endpoint.Endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def answer(call: wire.Call, writer: asyncio.StreamWriter, **fields: Any) -> bool:
    result = wire.result_for(call)
    for key, value in fields.items():
        setattr(result, key, value)
    writer.write(wire.encode_reply(call, result))
    await writer.drain()
    return True


async def leader_answers(
    call: wire.Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    if call.method == "getLeader":
        summary = idl.storm.NimbusSummary(
            host="127.0.0.1", port=1, uptime_secs=5, isLeader=True, version="2.6.2"
        )
        return await answer(call, writer, success=summary)
    if call.method == "activate":
        return await answer(call, writer, e=idl.storm.NotAliveException(msg=f"{call.args.name}"))
    if call.method == "deactivate":
        return False  # drop the connection without answering
    if call.method == "getNimbusConf":
        return True  # never answer
    return await answer(call, writer)


async def test_calls_return_results_and_rejections_keep_the_connection() -> None:
    async with serving(leader_answers) as address:
        conn = await connection.Connection.open(address)
        try:
            leader = await conn.call("getLeader", 5)
            assert leader.isLeader and leader.version == "2.6.2"
            with pytest.raises(errors.NotAliveError, match="wordcount"):
                await conn.call("activate", 5, name="wordcount")
            assert not conn.broken
            assert (await conn.call("getLeader", 5)).port == 1
        finally:
            await conn.close()


async def test_a_dropped_connection_is_a_connection_failure_and_breaks_it() -> None:
    async with serving(leader_answers) as address:
        conn = await connection.Connection.open(address)
        with pytest.raises(
            errors.ConnectionFailed, match="closed the connection during deactivate"
        ):
            await conn.call("deactivate", 5, name="t")
        assert conn.broken
        with pytest.raises(errors.ConnectionFailed, match="is closed"):
            await conn.call("getLeader", 5)
        await conn.close()


async def test_a_silent_server_times_out_and_breaks_the_connection() -> None:
    async with serving(leader_answers) as address:
        conn = await connection.Connection.open(address)
        with pytest.raises(errors.CallTimeout, match=r"did not answer getNimbusConf within 0\.2s"):
            await conn.call("getNimbusConf", 0.2)
        assert conn.broken
        await conn.close()


async def test_cancelling_a_call_breaks_the_connection() -> None:
    async with serving(leader_answers) as address:
        conn = await connection.Connection.open(address)
        task = asyncio.create_task(conn.call("getNimbusConf", 30))
        await asyncio.sleep(0)  # let the call start writing
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.broken
        await conn.close()


async def test_connecting_to_nothing_fails_clearly() -> None:
    async with serving(leader_answers) as address:
        pass  # the port is now closed
    with pytest.raises(errors.ConnectionFailed, match=r"cannot connect to Nimbus 127\.0\.0\.1"):
        await connection.Connection.open(address, timeout=2)


async def test_oversized_frames_are_refused_both_ways() -> None:
    async def huge_reply(
        call: wire.Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        result = wire.result_for(call)
        result.success = "x" * 5000
        writer.write(wire.encode_reply(call, result, max_frame=10_000))
        await writer.drain()
        return True

    async with serving(huge_reply) as address:
        conn = await connection.Connection.open(address, max_frame=4096)
        with pytest.raises(errors.FrameTooLargeError):
            await conn.call("uploadChunk", 5, location="x", chunk=b"\x00" * 5000)
        assert not conn.broken  # nothing was sent
        with pytest.raises(errors.FrameTooLargeError, match="bigger than the maximum"):
            await conn.call("getNimbusConf", 5)
        assert conn.broken
        await conn.close()


async def test_pipelined_calls_overlap_and_are_answered_in_order() -> None:
    received: list[bytes] = []
    held: list[wire.Call] = []

    async def slow_start(
        call: wire.Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        # Answer nothing until three chunks are in: only a pipelining client gets that far.
        received.append(call.args.chunk)
        held.append(call)
        if len(held) < 3 and len(received) <= 3:
            return True
        while held:
            await answer(held.pop(0), writer)
        return True

    async def chunks(n: int) -> AsyncIterator[dict[str, Any]]:
        for i in range(n):
            yield {"location": "loc", "chunk": bytes([i]) * 10}

    async with serving(slow_start) as address:
        conn = await connection.Connection.open(address)
        try:
            assert await conn.pipeline("uploadChunk", 5, chunks(10), window=4) == 10
            assert received == [bytes([i]) * 10 for i in range(10)]
            assert not conn.broken
        finally:
            await conn.close()
        serial = await connection.Connection.open(address)
        received.clear()
        with pytest.raises(errors.CallTimeout):
            await serial.pipeline("uploadChunk", 0.3, chunks(3), window=1)
        assert serial.broken
        await serial.close()


async def test_a_rejected_pipelined_call_raises_and_retires_the_connection() -> None:
    async def reject_third(
        call: wire.Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if call.args.chunk == b"\x02":
            exc = idl.storm.AuthorizationException(msg="no more")
            return await answer(call, writer, aze=exc)
        return await answer(call, writer)

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for i in range(6):
            yield {"location": "loc", "chunk": bytes([i])}

    async with serving(reject_third) as address:
        conn = await connection.Connection.open(address)
        with pytest.raises(errors.AuthorizationError, match="no more"):
            await conn.pipeline("uploadChunk", 5, chunks(), window=2)
        assert conn.broken
        await conn.close()
