"""The emulator's frame reader without sockets: a ``FramedConnection`` fed through a fake
transport, however the stream is cut, answers the same frames in the same order, never
moves a frame while its handler runs, pauses reading when its buffer is full and handling
when the peer does not take replies, and closes on a bad frame length."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.operators.storm.nimbus.emulator import framing
from pilothouse.testing import eventually

MAX_FRAME = 64
CLOSE = b"close"  # a payload the test handler answers with None: close the connection


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


class Transport(asyncio.Transport):
    """Records replies; flow control as the selector transport does it, on demand."""

    def __init__(self, protocol: framing.FramedConnection, high_water: int | None = None) -> None:
        super().__init__()
        self.protocol = protocol
        self.high_water = high_water
        self.written = bytearray()
        self.unsent = 0
        self.write_paused = False
        self.reading = asyncio.Event()
        self.reading.set()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4242) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed
        self.written += data
        if self.high_water is not None:
            self.unsent += len(data)
            if self.unsent > self.high_water and not self.write_paused:
                self.write_paused = True
                self.protocol.pause_writing()

    def flush(self) -> None:
        """The peer read every reply."""
        self.unsent = 0
        if self.write_paused:
            self.write_paused = False
            self.protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def pause_reading(self) -> None:
        assert self.reading.is_set(), "paused twice"
        self.reading.clear()

    def resume_reading(self) -> None:
        assert not self.reading.is_set(), "resumed while reading"
        self.reading.set()

    def is_reading(self) -> bool:
        return self.reading.is_set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed


class Echo:
    """Answers a payload with its bytes reversed, after yielding to the loop ``hold`` times
    (so more data arrives mid-call); checks its view did not change meanwhile."""

    def __init__(
        self, hold: int = 0, gate: asyncio.Event | None = None, gate_on: bytes | None = None
    ) -> None:
        self.hold = hold
        self.gate = gate
        self.gate_on = gate_on  # the one payload held at the gate (None: every one)
        self.holding = asyncio.Event()
        self.seen: list[bytes] = []

    async def __call__(self, payload: memoryview) -> bytes | None:
        before = bytes(payload)
        if self.gate is not None and self.gate_on in (None, before):
            self.holding.set()
            await self.gate.wait()
        for _ in range(self.hold):
            await asyncio.sleep(0)  # a yield, so the feeder runs mid-call
        assert bytes(payload) == before, "the frame moved while its handler ran"
        self.seen.append(before)
        return None if before == CLOSE else frame(before[::-1])


def expected(payloads: Iterable[bytes]) -> bytes:
    return b"".join(frame(p[::-1]) for p in payloads)


async def connect(
    handler: framing.Handler, high_water: int | None = None
) -> tuple[framing.FramedConnection, Transport]:
    conn = framing.FramedConnection(handler, MAX_FRAME)
    transport = Transport(conn, high_water)
    conn.connection_made(transport)
    return conn, transport


async def feed(
    conn: framing.FramedConnection,
    transport: Transport,
    data: bytes,
    sizes: Iterable[int] = (),
    *,
    yields: bool = True,
) -> None:
    """Deliver ``data`` as the transport would: ``sizes`` bytes a read (then the rest in one),
    never more than ``get_buffer`` offers, and only while reading is not paused."""
    view = memoryview(data)
    sizes = iter(sizes)
    while view:
        async with asyncio.timeout(10):
            await transport.reading.wait()
        if transport.closed:
            return
        buffer = conn.get_buffer(-1)
        assert len(buffer) > 0
        n = min(len(buffer), len(view), next(sizes, len(view)))
        buffer[:n] = view[:n]
        conn.buffer_updated(n)
        assert conn.buffered <= conn.capacity
        view = view[n:]
        if yields:
            await asyncio.sleep(0)  # a yield, so the serve task runs between reads


async def finish(conn: framing.FramedConnection, transport: Transport) -> None:
    """End of stream, then wait for the connection to answer what it has and close."""
    if not transport.closed:
        conn.eof_received()
    assert conn.task is not None
    async with asyncio.timeout(10):
        await conn.task
    assert transport.closed


# Tiny and near-limit frames as often as any: those fill the buffer and force compaction.
payloads_strategy = st.lists(
    st.one_of(
        st.binary(max_size=8),
        st.binary(min_size=MAX_FRAME - 8, max_size=MAX_FRAME),
        st.binary(max_size=MAX_FRAME),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(payloads=payloads_strategy, data=st.data())
def test_random_splits_of_a_stream_give_the_same_replies(
    payloads: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frame(p) for p in payloads)
    sizes = data.draw(st.lists(st.integers(1, 3 * MAX_FRAME), max_size=len(stream)))
    hold = data.draw(st.integers(0, 3))
    yields = data.draw(st.booleans())

    async def scenario() -> bytes:
        conn, transport = await connect(Echo(hold))
        await feed(conn, transport, stream, sizes, yields=yields)
        await finish(conn, transport)
        return bytes(transport.written)

    assert asyncio.run(scenario()) == expected(payloads)


async def test_one_byte_at_a_time() -> None:
    payloads = [b"", b"a", b"hello", bytes(range(MAX_FRAME))]
    conn, transport = await connect(Echo(hold=1))
    stream = b"".join(frame(p) for p in payloads)
    await feed(conn, transport, stream, [1] * len(stream))
    await finish(conn, transport)
    assert transport.written == expected(payloads)


async def test_many_frames_in_one_read() -> None:
    payloads = [bytes([i]) * (i % 7) for i in range(40)]
    handler = Echo()
    conn, transport = await connect(handler)
    await feed(conn, transport, b"".join(frame(p) for p in payloads))
    await finish(conn, transport)
    assert handler.seen == payloads
    assert transport.written == expected(payloads)


async def test_a_frame_of_exactly_max_frame_is_served_and_one_byte_more_closes() -> None:
    full = bytes(range(256))[:MAX_FRAME]
    assert len(full) == MAX_FRAME
    handler = Echo()
    conn, transport = await connect(handler)
    # The oversized frame's body never needs to arrive: its length alone closes.
    await feed(conn, transport, frame(full) + struct.pack(">i", MAX_FRAME + 1))
    await finish(conn, transport)
    assert handler.seen == [full]
    assert transport.written == expected([full])


async def test_a_negative_length_closes_without_a_reply() -> None:
    handler = Echo()
    conn, transport = await connect(handler)
    await feed(conn, transport, struct.pack(">i", -1) + frame(b"never"))
    await finish(conn, transport)
    assert handler.seen == []
    assert transport.written == b""


async def test_a_handler_answering_none_closes_and_later_frames_are_not_served() -> None:
    handler = Echo()
    conn, transport = await connect(handler)
    await feed(conn, transport, frame(b"one") + frame(CLOSE) + frame(b"two"), yields=False)
    await finish(conn, transport)
    assert handler.seen == [b"one", CLOSE]
    assert transport.written == expected([b"one"])


async def test_end_of_stream_answers_whole_frames_and_drops_a_partial_one() -> None:
    handler = Echo()
    conn, transport = await connect(handler)
    await feed(conn, transport, frame(b"whole") + frame(b"partial")[:-1])
    await finish(conn, transport)
    assert handler.seen == [b"whole"]
    assert transport.written == expected([b"whole"])


async def test_a_full_buffer_pauses_reading_until_the_handler_is_done() -> None:
    gate = asyncio.Event()
    handler = Echo(gate=gate)
    conn, transport = await connect(handler)
    payloads = [bytes([i]) * MAX_FRAME for i in range(8)]
    feeding = asyncio.create_task(feed(conn, transport, b"".join(frame(p) for p in payloads)))
    try:
        # The first frame's handler is held: the rest fills the buffer, then reading stops.
        await eventually.eventually_async(
            _async(lambda: not transport.is_reading()), message="reading paused"
        )
        assert conn.reading_paused
        assert conn.buffered == conn.capacity
        assert handler.seen == []
        gate.set()
        async with asyncio.timeout(10):
            await feeding
        await finish(conn, transport)
    finally:
        feeding.cancel()
    assert handler.seen == payloads
    assert transport.written == expected(payloads)


async def test_data_arriving_while_a_handler_runs_never_moves_its_frame() -> None:
    gate = asyncio.Event()
    handler = Echo(gate=gate, gate_on=b"second")
    conn, transport = await connect(handler)
    await feed(conn, transport, frame(b"first") + frame(b"second"))
    async with asyncio.timeout(10):
        await handler.holding.wait()
    # "first" is consumed, "second" is held; more arrives meanwhile, until the buffer is
    # full. Once "second" is done, the frames behind it go to the front of the buffer.
    later = [b"x" * MAX_FRAME, b"y" * (MAX_FRAME - 1), b"z" * MAX_FRAME]
    stream = b"".join(frame(p) for p in later)
    feeding = asyncio.create_task(feed(conn, transport, stream, [3, MAX_FRAME, 7]))
    try:
        await eventually.eventually_async(
            _async(lambda: not transport.is_reading()), message="reading paused"
        )
        gate.set()
        async with asyncio.timeout(10):
            await feeding
    finally:
        feeding.cancel()
    await finish(conn, transport)
    assert handler.seen == [b"first", b"second", *later]
    assert transport.written == expected([b"first", b"second", *later])


async def test_replies_the_peer_does_not_take_stop_the_handling() -> None:
    payloads = [bytes([i]) * 10 for i in range(8)]  # 112 bytes: all fit in the buffer
    handler = Echo()
    # Each reply is 14 bytes: the third one passes the high-water mark.
    conn, transport = await connect(handler, high_water=30)
    await feed(conn, transport, b"".join(frame(p) for p in payloads))
    await eventually.eventually_async(_async(lambda: conn.writing_paused), message="writing paused")
    for _ in range(5):
        await asyncio.sleep(0)  # yields: room for the serve task to misbehave
    assert handler.seen == payloads[:3]
    assert conn.buffered == sum(4 + len(p) for p in payloads[3:])
    assert conn.write_buffer_size == 3 * 14
    while conn.writing_paused or len(handler.seen) < len(payloads):
        transport.flush()
        await eventually.eventually_async(
            _async(lambda: conn.writing_paused or len(handler.seen) == len(payloads)),
            message="handling resumed",
        )
    await finish(conn, transport)
    assert transport.written == expected(payloads)


async def test_close_stops_after_the_frame_in_hand() -> None:
    gate = asyncio.Event()
    handler = Echo(gate=gate)
    conn, transport = await connect(handler)
    await feed(conn, transport, frame(b"first") + frame(b"second"))
    conn.close()
    gate.set()
    assert conn.task is not None
    async with asyncio.timeout(10):
        await conn.task
    assert conn.lost.done()
    assert handler.seen == [b"first"]
    assert transport.written == b""  # the transport was closed: its reply has nowhere to go


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run
