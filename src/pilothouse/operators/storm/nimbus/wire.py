"""Thrift framed transport + binary protocol, as Nimbus speaks it, over bytes.

Nimbus listens with ``TFramedTransport`` and ``TBinaryProtocol`` (strict
writes): each message is a 4-byte big-endian length followed by that many bytes
of a binary-protocol message. This module turns calls and replies into frames
and back, and reads frames off an asyncio stream; it does no I/O of its own
beyond that, so the client (``connection``) and the emulator (``emulator``)
share one codec and cannot disagree.

Serialization uses thriftpy2's Cython binary protocol over an in-memory buffer:
a whole message is built before it is written, which is what makes the frame
length known, and the frame limit (``nimbus.thrift.max_buffer_size``, 1 MiB by
default) is checked on both sides before a byte moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from typing import Any

from thriftpy2 import protocol as thrift_protocol
from thriftpy2.thrift import TApplicationException, TMessageType
from thriftpy2.transport import TCyMemoryBuffer

from pilothouse.operators.storm.nimbus import errors, idl

#: Storm's default ``nimbus.thrift.max_buffer_size``.
DEFAULT_MAX_FRAME = 1 << 20

_HEADER = struct.Struct(">i")

# thriftpy2's stubs type the Cython protocol as untyped; we only call it here.
_Protocol: Any = thrift_protocol.TCyBinaryProtocol


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """A decoded request: the method, its sequence id and its ``<method>_args`` struct."""

    method: str
    seqid: int
    args: Any
    oneway: bool = False


def _frame(buffer: Any, max_frame: int) -> bytes:
    body: bytes = buffer.getvalue()
    if len(body) > max_frame:
        raise errors.FrameTooLargeError(
            f"a {len(body)}-byte Thrift frame is over the {max_frame}-byte limit "
            "(nimbus.thrift.max_buffer_size)"
        )
    return _HEADER.pack(len(body)) + body


def _writer() -> tuple[Any, Any]:
    buffer = TCyMemoryBuffer()
    return buffer, _Protocol(buffer, strict_write=True)


def encode_call(method: str, seqid: int, max_frame: int = DEFAULT_MAX_FRAME, **args: Any) -> bytes:
    """The frame for a call of ``method`` with keyword ``args`` (Storm's parameter names)."""
    if method == "uploadChunk":
        location, chunk = args.get("location"), args.get("chunk")
        if isinstance(location, str) and isinstance(chunk, bytes | bytearray | memoryview):
            return _encode_upload_chunk(seqid, location, chunk, max_frame)
    args_cls = getattr(idl.Nimbus, f"{method}_args", None)
    if args_cls is None:
        raise errors.ProtocolError(f"Nimbus has no method {method!r} in our IDL")
    buffer, protocol = _writer()
    protocol.write_message_begin(method, TMessageType.CALL, seqid)
    protocol.write_struct(args_cls(**args))
    protocol.write_message_end()
    return _frame(buffer, max_frame)


def encode_reply(call: Call, result: Any, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """The frame answering ``call`` with its ``<method>_result`` struct."""
    buffer, protocol = _writer()
    protocol.write_message_begin(call.method, TMessageType.REPLY, call.seqid)
    protocol.write_struct(result)
    protocol.write_message_end()
    return _frame(buffer, max_frame)


def encode_application_error(
    method: str, seqid: int, message: str, kind: int = TApplicationException.INTERNAL_ERROR
) -> bytes:
    """The frame of a ``TApplicationException``: how Java Nimbus reports unexpected failures."""
    buffer, protocol = _writer()
    protocol.write_message_begin(method, TMessageType.EXCEPTION, seqid)
    protocol.write_struct(TApplicationException(kind, message))
    protocol.write_message_end()
    return _frame(buffer, DEFAULT_MAX_FRAME)


def _reader(payload: bytes) -> tuple[Any, str, int, int]:
    protocol = _Protocol(TCyMemoryBuffer(payload))
    try:
        name, kind, seqid = protocol.read_message_begin()
    except Exception as exc:  # thriftpy2 raises several types for garbage
        raise errors.ProtocolError(f"not a Thrift binary message: {exc}") from exc
    return protocol, name, kind, seqid


# The hot path of an upload, done by hand: thriftpy2's memory buffer copies a frame three
# times (into its buffer, out to bytes, onto the length header), and at 300 KB a chunk those
# copies and the page faults of fresh allocations cost more than the socket does. Encoding is
# byte-for-byte what the protocol writes (a test compares them). Decoding hands out the chunk
# as a memoryview of the frame, never copied (the emulator writes it straight to disk), and
# leaves anything but the layout Thrift writers produce to the generic path.
_I32 = struct.Struct(">i")
_UPLOAD_PREFIX = b"\x80\x01\x00\x01" + _I32.pack(len("uploadChunk")) + b"uploadChunk"
_STRING_FIELD = 11


def _encode_upload_chunk(
    seqid: int, location: str, chunk: bytes | bytearray | memoryview, max_frame: int
) -> bytes:
    loc = location.encode()
    size = len(_UPLOAD_PREFIX) + 4 + 3 + 4 + len(loc) + 3 + 4 + len(chunk) + 1
    if size > max_frame:
        raise errors.FrameTooLargeError(
            f"a {size}-byte Thrift frame is over the {max_frame}-byte limit "
            "(nimbus.thrift.max_buffer_size)"
        )
    return b"".join(
        (
            _I32.pack(size),
            _UPLOAD_PREFIX,
            _I32.pack(seqid),
            b"\x0b\x00\x01",
            _I32.pack(len(loc)),
            loc,
            b"\x0b\x00\x02",
            _I32.pack(len(chunk)),
            chunk,
            b"\x00",
        )
    )


def _decode_upload_chunk(payload: bytes | memoryview) -> Call | None:
    """The call, or None for a valid but unusual layout (unknown fields) left to thriftpy2."""
    truncated = errors.ProtocolError("cannot decode the arguments of uploadChunk: truncated")
    view = memoryview(payload)
    offset = len(_UPLOAD_PREFIX)
    if len(payload) < offset + 5:
        raise truncated
    (seqid,) = _I32.unpack_from(payload, offset)
    offset += 4
    fields: dict[int, memoryview] = {}
    while offset < len(payload):
        ttype = payload[offset]
        if ttype == 0:
            if offset + 1 != len(payload) or fields.keys() != {1, 2}:
                return None
            try:
                location = str(fields[1], "utf-8")
            except UnicodeDecodeError as exc:
                raise errors.ProtocolError(f"uploadChunk location is not UTF-8: {exc}") from exc
            args = idl.Nimbus.uploadChunk_args(location=location, chunk=fields[2])
            return Call("uploadChunk", seqid, args)
        if ttype != _STRING_FIELD:
            return None
        if offset + 7 > len(payload):
            raise truncated
        field_id = int.from_bytes(payload[offset + 1 : offset + 3], "big")
        (length,) = _I32.unpack_from(payload, offset + 3)
        start = offset + 7
        if length < 0 or start + length > len(payload):
            raise truncated
        if field_id not in (1, 2):
            return None
        fields[field_id] = view[start : start + length]
        offset = start + length
    raise truncated


def decode_call(payload: bytes | memoryview) -> Call:
    """The call in a request frame's payload (bytes, or a view of a receive buffer).

    Raises ``ProtocolError`` for bytes that are not a call, and ``UnknownMethod``
    (carrying the name and seqid, so the server can answer) for a method our IDL
    does not have. ``uploadChunk``'s ``chunk`` is a memoryview of ``payload``, never
    a copy; other calls are small and are copied out for thriftpy2, which reads bytes.
    """
    if payload[: len(_UPLOAD_PREFIX)] == _UPLOAD_PREFIX:
        fast = _decode_upload_chunk(payload)
        if fast is not None:
            return fast
    if isinstance(payload, memoryview):
        payload = payload.tobytes()
    protocol, name, kind, seqid = _reader(payload)
    if kind not in (TMessageType.CALL, TMessageType.ONEWAY):
        raise errors.ProtocolError(f"expected a call, got message type {kind}")
    args_cls = getattr(idl.Nimbus, f"{name}_args", None)
    if args_cls is None:
        raise UnknownMethod(name, seqid)
    args = args_cls()
    try:
        protocol.read_struct(args)
    except Exception as exc:
        raise errors.ProtocolError(f"cannot decode the arguments of {name}: {exc}") from exc
    return Call(name, seqid, args, kind == TMessageType.ONEWAY)


class UnknownMethod(errors.ProtocolError):
    """A call of a method the IDL lacks; answered with ``UNKNOWN_METHOD`` like Java Thrift."""

    def __init__(self, method: str, seqid: int) -> None:
        super().__init__(f"Invalid method name: '{method}'")
        self.method = method
        self.seqid = seqid


def decode_reply(method: str, seqid: int, payload: bytes) -> Any:
    """The value a reply frame carries for a call of ``method`` with ``seqid``.

    Returns the method's result (None for ``void``); raises the typed error
    (``errors.from_thrift``) for a declared exception or a ``TApplicationException``.
    """
    protocol, name, kind, got_seqid = _reader(payload)
    if name != method or got_seqid != seqid:
        raise errors.ProtocolError(
            f"reply for {name}#{got_seqid} while waiting for {method}#{seqid}"
        )
    if kind == TMessageType.EXCEPTION:
        exc = TApplicationException()
        protocol.read_struct(exc)
        raise errors.from_thrift(exc)
    if kind != TMessageType.REPLY:
        raise errors.ProtocolError(f"expected a reply, got message type {kind}")
    result = getattr(idl.Nimbus, f"{method}_result")()
    try:
        protocol.read_struct(result)
    except Exception as exc:
        raise errors.ProtocolError(f"cannot decode the reply of {method}: {exc}") from exc
    for field_id, spec in sorted(result.thrift_spec.items()):
        if field_id == 0:
            continue
        value = getattr(result, spec[1])
        if value is not None:
            raise errors.from_thrift(value)
    if 0 in result.thrift_spec:
        if result.success is None:
            raise errors.ApplicationError(
                f"{method} failed: unknown result", TApplicationException.MISSING_RESULT
            )
        return result.success
    return None


def result_for(call: Call) -> Any:
    """An empty ``<method>_result`` struct for the server to fill."""
    return getattr(idl.Nimbus, f"{call.method}_result")()


async def read_frame(reader: asyncio.StreamReader, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """The payload of the next frame on ``reader``.

    Raises ``asyncio.IncompleteReadError`` at end of stream (``partial`` is empty
    when the peer closed between frames) and ``FrameTooLargeError`` for a length
    over ``max_frame`` or negative, without reading the body: like Java's
    ``TFramedTransport``, the stream is then unusable and must be closed.
    """
    header = await reader.readexactly(_HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length < 0 or length > max_frame:
        raise errors.FrameTooLargeError(
            f"read a frame size of {length}, which is bigger than the maximum allowable "
            f"buffer size of {max_frame} (nimbus.thrift.max_buffer_size)"
        )
    payload: bytes = await reader.readexactly(length)
    return payload
