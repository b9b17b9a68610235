"""The framed binary-protocol codec shared by the Nimbus client and the emulator."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType
from thriftpy2.transport import TMemoryBuffer

from pilothouse.operators.storm.nimbus import errors, idl, wire


def test_a_call_frame_is_a_length_then_a_strict_binary_message() -> None:
    frame = wire.encode_call("activate", 7, name="wordcount")
    (length,) = struct.unpack(">i", frame[:4])
    assert length == len(frame) - 4
    body = frame[4:]
    # Strict write: version 1 with the message type in the low byte, then the name.
    assert body[:4] == bytes([0x80, 0x01, 0x00, TMessageType.CALL])
    assert body[4:8] == struct.pack(">i", len("activate"))
    assert body[8:16] == b"activate"
    assert body[16:20] == struct.pack(">i", 7)
    # Field 1, type STRING (11): the name; then the struct's STOP byte.
    assert body[20:23] == bytes([11, 0, 1])
    assert body[23:27] == struct.pack(">i", 9)
    assert body[27:36] == b"wordcount"
    assert body[36:] == b"\x00"


@given(
    location=st.text(max_size=200), chunk=st.binary(max_size=4096), seqid=st.integers(0, 2**31 - 1)
)
def test_calls_encode_exactly_as_the_pure_python_protocol_does(
    location: str, chunk: bytes, seqid: int
) -> None:
    # thriftpy2's pure-Python protocol is an independent implementation of the same format.
    buffer = TMemoryBuffer()
    protocol = TBinaryProtocol(buffer, strict_write=True)
    protocol.write_message_begin("uploadChunk", TMessageType.CALL, seqid)
    protocol.write_struct(idl.Nimbus.uploadChunk_args(location=location, chunk=chunk))
    protocol.write_message_end()
    expected = buffer.getvalue()
    frame = wire.encode_call("uploadChunk", seqid, location=location, chunk=chunk)
    assert frame[4:] == expected
    call = wire.decode_call(frame[4:])
    assert (call.method, call.seqid, call.args.location, call.args.chunk) == (
        "uploadChunk",
        seqid,
        location,
        chunk,
    )


@given(
    name=st.text(min_size=1, max_size=50),
    workers=st.integers(0, 2**31 - 1),
    status=st.sampled_from(["ACTIVE", "INACTIVE", "REBALANCING", "KILLED"]),
    owner=st.none() | st.text(max_size=20),
)
def test_replies_round_trip(name: str, workers: int, status: str, owner: str | None) -> None:
    call = wire.decode_call(wire.encode_call("getTopologySummaryByName", 3, name=name)[4:])
    result = wire.result_for(call)
    result.success = idl.storm.TopologySummary(
        id=f"{name}-1-2",
        name=name,
        num_tasks=1,
        num_executors=1,
        num_workers=workers,
        uptime_secs=0,
        status=status,
        owner=owner,
    )
    got = wire.decode_reply("getTopologySummaryByName", 3, wire.encode_reply(call, result)[4:])
    assert got == result.success


def test_a_void_reply_is_none_and_a_declared_exception_is_typed() -> None:
    call = wire.decode_call(wire.encode_call("killTopology", 1, name="t")[4:])
    assert (
        wire.decode_reply("killTopology", 1, wire.encode_reply(call, wire.result_for(call))[4:])
        is None
    )
    result = wire.result_for(call)
    result.e = idl.storm.NotAliveException(msg="t is not alive")
    with pytest.raises(errors.NotAliveError, match="t is not alive"):
        wire.decode_reply("killTopology", 1, wire.encode_reply(call, result)[4:])


def test_a_missing_result_of_a_non_void_method_is_an_error() -> None:
    call = wire.decode_call(wire.encode_call("getLeader", 1)[4:])
    with pytest.raises(errors.ApplicationError, match="unknown result"):
        wire.decode_reply("getLeader", 1, wire.encode_reply(call, wire.result_for(call))[4:])


def test_application_errors_carry_their_message_and_not_a_leader_names_the_leader() -> None:
    frame = wire.encode_application_error("submitTopology", 4, "boom")
    with pytest.raises(errors.ApplicationError, match="boom") as info:
        wire.decode_reply("submitTopology", 4, frame[4:])
    assert info.value.kind == TApplicationException.INTERNAL_ERROR
    frame = wire.encode_application_error(
        "submitTopology", 5, "not a leader, current leader is h:6627"
    )
    with pytest.raises(errors.NotLeaderError) as leader:
        wire.decode_reply("submitTopology", 5, frame[4:])
    assert leader.value.leader == "h:6627"


def test_a_reply_to_another_call_is_a_protocol_error() -> None:
    call = wire.decode_call(wire.encode_call("activate", 9, name="t")[4:])
    frame = wire.encode_reply(call, wire.result_for(call))
    with pytest.raises(errors.ProtocolError, match="activate#9"):
        wire.decode_reply("activate", 10, frame[4:])
    with pytest.raises(errors.ProtocolError):
        wire.decode_reply("deactivate", 9, frame[4:])


def test_unknown_methods_and_garbage() -> None:
    buffer = TMemoryBuffer()
    protocol = TBinaryProtocol(buffer, strict_write=True)
    protocol.write_message_begin("noSuchMethod", TMessageType.CALL, 12)
    protocol.write_message_end()
    with pytest.raises(wire.UnknownMethod) as info:
        wire.decode_call(buffer.getvalue() + b"\x00")
    assert (info.value.method, info.value.seqid) == ("noSuchMethod", 12)
    with pytest.raises(errors.ProtocolError):
        wire.decode_call(b"\x00\x01")
    with pytest.raises(errors.ProtocolError):
        wire.encode_call("noSuchMethod", 1)


def test_frames_over_the_limit_are_refused_before_sending() -> None:
    with pytest.raises(errors.FrameTooLargeError, match="over the 1000-byte limit"):
        wire.encode_call("uploadChunk", 1, 1000, location="x", chunk=b"\x00" * 1000)
    assert len(wire.encode_call("uploadChunk", 1, location="x", chunk=b"\x00" * 307_200)) < (
        wire.DEFAULT_MAX_FRAME
    )


async def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_read_frame_reads_one_frame_and_refuses_oversized_lengths() -> None:
    frame = wire.encode_call("activate", 1, name="t")
    reader = await _reader(frame + frame)
    assert await wire.read_frame(reader) == frame[4:]
    assert await wire.read_frame(reader) == frame[4:]
    with pytest.raises(asyncio.IncompleteReadError):
        await wire.read_frame(reader)
    with pytest.raises(errors.FrameTooLargeError, match="bigger than the maximum"):
        await wire.read_frame(await _reader(struct.pack(">i", 2_000_000)), 1 << 20)
    with pytest.raises(errors.FrameTooLargeError):
        await wire.read_frame(await _reader(struct.pack(">i", -1)))


def _upload_chunk_body(seqid: int, fields: list[tuple[int, bytes]]) -> bytes:
    body = bytes([0x80, 0x01, 0x00, 0x01]) + struct.pack(">i", 11) + b"uploadChunk"
    body += struct.pack(">i", seqid)
    for field_id, value in fields:
        body += bytes([11]) + struct.pack(">h", field_id) + struct.pack(">i", len(value)) + value
    return body + b"\x00"


@given(location=st.text(max_size=50), chunk=st.binary(max_size=512), seqid=st.integers(0, 99))
def test_upload_chunks_decode_whatever_order_their_fields_come_in(
    location: str, chunk: bytes, seqid: int
) -> None:
    for fields in ([(1, location.encode()), (2, chunk)], [(2, chunk), (1, location.encode())]):
        call = wire.decode_call(_upload_chunk_body(seqid, fields))
        assert (call.seqid, call.args.location, call.args.chunk) == (seqid, location, chunk)


@given(cut=st.integers(1, 40))
def test_truncated_upload_chunks_are_protocol_errors(cut: int) -> None:
    body = _upload_chunk_body(1, [(1, b"loc"), (2, b"0123456789")])
    with pytest.raises(errors.ProtocolError):
        wire.decode_call(body[: len(body) - cut])
