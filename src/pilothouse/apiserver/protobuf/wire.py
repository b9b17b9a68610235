"""The protobuf wire format: tags, varints, length-delimited and fixed-width fields.

A request body comes from the network, so every read is bounds-checked and every failure is a
:class:`ProtobufError` (a ``ValueError``): callers turn exactly that into a 400 and nothing else
can escape. The reader works on a ``memoryview`` so that nested messages are decoded without
copying the body once per nesting level.

Behaviour follows gogo-protobuf's generated ``Unmarshal`` code, which is what kube-apiserver
runs: a varint longer than ten bytes is an error while bits beyond 64 are dropped, field number
0 and the reserved wire types 6 and 7 are errors, and unknown fields are skipped, including
(deprecated) groups, whose nesting is bounded by :data:`MAX_DEPTH` so that a body of nested
start-group tags cannot exhaust anything.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LEN = 2
START_GROUP = 3
END_GROUP = 4
FIXED32 = 5

MAX_DEPTH = 100

_MASK64 = (1 << 64) - 1
_FIXED32 = struct.Struct("<I")
_FIXED64 = struct.Struct("<Q")
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")

FieldValue = int | memoryview


class ProtobufError(ValueError):
    """The body is not valid Kubernetes protobuf."""


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Read an unsigned varint at ``pos``; return it (at most 64 bits) and the next position."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ProtobufError("unexpected end of data in a varint")
        if shift >= 64:
            raise ProtobufError("varint is longer than 10 bytes")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7


def iter_fields(buf: memoryview, depth: int = 0) -> Iterator[tuple[int, int, FieldValue]]:
    """Yield ``(field number, wire type, value)`` for each field of one message.

    Varints and fixed-width values come as unsigned ints, length-delimited ones as memoryviews
    into ``buf``. Groups are skipped whole (no Kubernetes message uses them), so they are never
    yielded.
    """
    pos = 0
    end = len(buf)
    while pos < end:
        tag, pos = read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if number <= 0 or number > 0x1FFFFFFF:
            raise ProtobufError(f"illegal field number {number} (wire type {wire_type})")
        if wire_type == START_GROUP:
            pos = _skip_group(buf, pos, depth + 1)
            continue
        value, pos = read_value(buf, pos, wire_type)
        yield number, wire_type, value


def read_value(buf: memoryview, pos: int, wire_type: int) -> tuple[FieldValue, int]:
    """Read the value of a field whose tag ends just before ``pos``."""
    if wire_type == LEN:
        length, pos = read_varint(buf, pos)
        if length > len(buf) - pos:
            raise ProtobufError("length-delimited field runs past the end of its message")
        return buf[pos : pos + length], pos + length
    return read_scalar(buf, pos, wire_type)


def read_scalar(buf: memoryview, pos: int, wire_type: int) -> tuple[int, int]:
    """Read a varint or fixed-width value; any other wire type is an error here."""
    if wire_type == VARINT:
        return read_varint(buf, pos)
    if wire_type == FIXED32:
        if pos + 4 > len(buf):
            raise ProtobufError("unexpected end of data in a fixed32 field")
        return _FIXED32.unpack_from(buf, pos)[0], pos + 4
    if wire_type == FIXED64:
        if pos + 8 > len(buf):
            raise ProtobufError("unexpected end of data in a fixed64 field")
        return _FIXED64.unpack_from(buf, pos)[0], pos + 8
    if wire_type == END_GROUP:
        raise ProtobufError("end-group tag without a matching start-group")
    raise ProtobufError(f"illegal wire type {wire_type}")


def _skip_group(buf: memoryview, pos: int, depth: int) -> int:
    """Skip a group's fields up to and including its end-group tag; return the next position."""
    if depth > MAX_DEPTH:
        raise ProtobufError(f"groups are nested more than {MAX_DEPTH} levels deep")
    while True:
        if pos >= len(buf):
            raise ProtobufError("unexpected end of data in a group")
        tag, pos = read_varint(buf, pos)
        wire_type = tag & 7
        if tag >> 3 <= 0:
            raise ProtobufError("illegal field number 0 in a group")
        if wire_type == END_GROUP:
            return pos
        if wire_type == START_GROUP:
            pos = _skip_group(buf, pos, depth + 1)
        else:
            pos = read_value(buf, pos, wire_type)[1]


def iter_packed(data: memoryview, wire_type: int) -> Iterator[int]:
    """Yield the raw elements of a packed repeated scalar field of the given element wire type."""
    pos = 0
    end = len(data)
    while pos < end:
        value, pos = read_scalar(data, pos, wire_type)
        yield value


def to_signed(value: int, bits: int) -> int:
    """Reinterpret the low ``bits`` bits of ``value`` as two's complement (Go's int32/int64)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def zigzag(value: int, bits: int) -> int:
    """Decode a zigzag-encoded sint32/sint64."""
    value &= (1 << bits) - 1
    return (value >> 1) ^ -(value & 1)


def to_float(value: int) -> float:
    return float(_FLOAT.unpack(_FIXED32.pack(value & 0xFFFFFFFF))[0])


def to_double(value: int) -> float:
    return float(_DOUBLE.unpack(_FIXED64.pack(value & _MASK64))[0])
