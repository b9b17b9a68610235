"""The protobuf wire reader: varints, field framing, groups, numeric conversions, and that
arbitrary bytes only ever fail with ProtobufError."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.apiserver.protobuf import wire
from pilothouse.apiserver.protobuf.wire import ProtobufError


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    return [
        (n, t, bytes(v) if isinstance(v, memoryview) else v)
        for n, t, v in wire.iter_fields(memoryview(data))
    ]


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1])
def test_varint_round_trips(value: int) -> None:
    encoded = varint(value)
    assert wire.read_varint(memoryview(encoded), 0) == (value, len(encoded))


def test_varint_reads_from_an_offset() -> None:
    data = memoryview(b"\xff" + varint(300))
    assert wire.read_varint(data, 1) == (300, 3)


def test_truncated_varint_is_an_error() -> None:
    with pytest.raises(ProtobufError, match="end of data"):
        wire.read_varint(memoryview(b"\x80\x80"), 0)


def test_varint_longer_than_ten_bytes_is_an_error() -> None:
    with pytest.raises(ProtobufError, match="longer than 10 bytes"):
        wire.read_varint(memoryview(b"\xff" * 10 + b"\x01"), 0)


def test_bits_beyond_64_are_dropped_like_go() -> None:
    # The tenth byte may carry more than the one bit that fits; Go keeps the low 64 bits.
    value, _ = wire.read_varint(memoryview(b"\xff" * 9 + b"\x7f"), 0)
    assert value == 2**64 - 1


def test_fields_of_every_wire_type() -> None:
    data = (
        tag(1, wire.VARINT)
        + varint(150)
        + tag(2, wire.LEN)
        + varint(3)
        + b"abc"
        + tag(3, wire.FIXED32)
        + struct.pack("<I", 7)
        + tag(4, wire.FIXED64)
        + struct.pack("<Q", 2**40)
    )
    assert fields(data) == [
        (1, wire.VARINT, 150),
        (2, wire.LEN, b"abc"),
        (3, wire.FIXED32, 7),
        (4, wire.FIXED64, 2**40),
    ]


def test_empty_message_has_no_fields() -> None:
    assert fields(b"") == []


@pytest.mark.parametrize(
    "data",
    [
        tag(1, wire.LEN) + varint(5) + b"abc",  # length runs past the end
        tag(1, wire.FIXED32) + b"\x00\x00",
        tag(1, wire.FIXED64) + b"\x00" * 7,
        tag(1, wire.LEN) + varint(2**63),  # an absurd length, not a crash
    ],
)
def test_truncated_fields_are_errors(data: bytes) -> None:
    with pytest.raises(ProtobufError):
        fields(data)


@pytest.mark.parametrize("wire_type", [6, 7])
def test_reserved_wire_types_are_errors(wire_type: int) -> None:
    with pytest.raises(ProtobufError, match="illegal wire type"):
        fields(tag(1, wire_type))


def test_field_number_zero_is_an_error() -> None:
    with pytest.raises(ProtobufError, match="illegal field number 0"):
        fields(tag(0, wire.VARINT) + varint(1))


def test_end_group_without_start_is_an_error() -> None:
    with pytest.raises(ProtobufError, match="end-group"):
        fields(tag(1, wire.END_GROUP))


def test_groups_are_skipped_whole() -> None:
    group = (
        tag(5, wire.START_GROUP)
        + tag(1, wire.VARINT)
        + varint(9)
        + tag(6, wire.START_GROUP)  # nested
        + tag(2, wire.LEN)
        + varint(1)
        + b"x"
        + tag(6, wire.END_GROUP)
        + tag(5, wire.END_GROUP)
    )
    assert fields(group + tag(2, wire.VARINT) + varint(1)) == [(2, wire.VARINT, 1)]


def test_unterminated_group_is_an_error() -> None:
    with pytest.raises(ProtobufError, match="end of data in a group"):
        fields(tag(5, wire.START_GROUP) + tag(1, wire.VARINT) + varint(9))


def test_group_nesting_is_bounded() -> None:
    deep = tag(1, wire.START_GROUP) * (wire.MAX_DEPTH + 5)
    with pytest.raises(ProtobufError, match="nested more than"):
        fields(deep)


def test_packed_elements() -> None:
    data = memoryview(varint(1) + varint(300) + varint(2**64 - 1))
    assert list(wire.iter_packed(data, wire.VARINT)) == [1, 300, 2**64 - 1]
    fixed = memoryview(struct.pack("<II", 1, 2))
    assert list(wire.iter_packed(fixed, wire.FIXED32)) == [1, 2]
    with pytest.raises(ProtobufError):
        list(wire.iter_packed(memoryview(b"\x01\x02\x03"), wire.FIXED32))


def test_numeric_conversions() -> None:
    assert wire.to_signed(2**64 - 1, 64) == -1
    assert wire.to_signed(2**64 - 1, 32) == -1  # Go's int32(uint64) keeps the low 32 bits
    assert wire.to_signed(2**31, 32) == -(2**31)
    assert wire.to_signed(5, 32) == 5
    assert wire.zigzag(0, 32) == 0
    assert wire.zigzag(1, 32) == -1
    assert wire.zigzag(4, 64) == 2
    assert wire.to_float(struct.unpack("<I", struct.pack("<f", 1.5))[0]) == 1.5
    assert wire.to_double(struct.unpack("<Q", struct.pack("<d", -2.25))[0]) == -2.25


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_only_raise_protobuf_error(data: bytes) -> None:
    with contextlib.suppress(ProtobufError):
        fields(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2**29 - 1), st.binary(max_size=16)), max_size=8))
def test_length_delimited_fields_round_trip(items: list[tuple[int, bytes]]) -> None:
    data = b"".join(tag(n, wire.LEN) + varint(len(v)) + v for n, v in items)
    assert fields(data) == [(n, wire.LEN, v) for n, v in items]
