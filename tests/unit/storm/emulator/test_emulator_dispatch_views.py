"""The dispatcher given a frame as a view of a receive buffer, as the server gives it:
``uploadChunk``'s chunk reaches the inbox as a view of that buffer, never copied; other
calls, an unusual ``uploadChunk`` layout and a truncated one are handled as from bytes."""

from __future__ import annotations

import os
import pathlib
import struct
from collections.abc import Iterator

import pytest

from pilothouse.operators.storm.nimbus import wire
from pilothouse.operators.storm.nimbus.emulator import config, core, dispatch


@pytest.fixture
def nimbus(tmp_path: pathlib.Path) -> Iterator[core.EmulatedNimbus]:
    n = core.EmulatedNimbus(config.EmulatorConfig(data_dir=tmp_path).validated())
    n.become_leader()
    yield n
    n.close()


def file_bytes(path: str) -> bytes:
    """A sync helper, so the blocking-call check in async tests stays quiet."""
    return pathlib.Path(path).read_bytes()


def received(frame: bytes) -> tuple[bytearray, memoryview]:
    """A receive buffer holding ``frame`` after some earlier bytes, and the payload's view."""
    buffer = bytearray(b"earlier frames" + frame)
    start = len(b"earlier frames") + 4
    return buffer, memoryview(buffer)[start:]


async def answer(n: core.EmulatedNimbus, payload: memoryview, method: str, seqid: int) -> object:
    reply = await dispatch.dispatch(n, payload)
    assert reply is not None
    return wire.decode_reply(method, seqid, reply[4:])


async def test_an_upload_chunk_goes_to_disk_from_the_receive_buffer(
    nimbus: core.EmulatedNimbus, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = nimbus.inbox.begin()
    chunk = os.urandom(5000)
    buffer, payload = received(wire.encode_call("uploadChunk", 3, location=location, chunk=chunk))
    append = nimbus.inbox.append
    seen: list[bool] = []

    def spy(where: str, data: bytes | memoryview) -> None:
        seen.append(isinstance(data, memoryview) and data.obj is buffer)
        append(where, data)

    monkeypatch.setattr(nimbus.inbox, "append", spy)
    assert await answer(nimbus, payload, "uploadChunk", 3) is None
    assert seen == [True]
    await nimbus.inbox.finish(location)
    assert file_bytes(location) == chunk


async def test_other_calls_from_a_view(nimbus: core.EmulatedNimbus) -> None:
    _, payload = received(wire.encode_call("getLeader", 4))
    leader = await answer(nimbus, payload, "getLeader", 4)
    assert getattr(leader, "isLeader", None) is True


async def test_an_unusual_upload_chunk_layout_from_a_view(nimbus: core.EmulatedNimbus) -> None:
    # A field our fast decoder does not know (id 9) before the two it does: valid Thrift,
    # left to thriftpy2, which skips it.
    location = nimbus.inbox.begin()
    loc = location.encode()
    body = b"".join(
        (
            wire.encode_call("uploadChunk", 5, location="", chunk=b"")[4:27],  # header, seqid
            b"\x0b\x00\x09" + struct.pack(">i", 3) + b"odd",
            b"\x0b\x00\x01" + struct.pack(">i", len(loc)) + loc,
            b"\x0b\x00\x02" + struct.pack(">i", 4) + b"data",
            b"\x00",
        )
    )
    _, payload = received(struct.pack(">i", len(body)) + body)
    assert await answer(nimbus, payload, "uploadChunk", 5) is None
    await nimbus.inbox.finish(location)
    assert file_bytes(location) == b"data"


async def test_a_truncated_upload_chunk_from_a_view_closes(nimbus: core.EmulatedNimbus) -> None:
    location = nimbus.inbox.begin()
    frame = wire.encode_call("uploadChunk", 6, location=location, chunk=b"x" * 100)
    _, payload = received(frame[:-10])
    assert await dispatch.dispatch(nimbus, payload) is None
