"""One emulator connection: Thrift frames read into one reused buffer, answered in order.

``FramedConnection`` is the protocol of one client connection. It cuts the byte
stream into frames (a 4-byte big-endian length, then that many bytes of
payload), hands each payload to an async ``handler`` and writes the reply
frame it returns (None: close the connection).

Why an ``asyncio.BufferedProtocol`` and not a ``StreamReader``: an upload is a
stream of 300 KB frames, and a stream reader costs three copies and two fresh
allocations for each (``recv`` into new bytes, ``extend`` into its buffer,
``readexactly`` out of it), which with the page faults of fresh 300 KB objects
cost more CPU than the socket reads themselves. Here the kernel writes
straight into the connection's buffer (``get_buffer``), the payload goes to
the handler as a memoryview of that buffer, and ``uploadChunk`` writes its
chunk to disk from that same view (``wire`` decodes it without copying): one
copy in, one copy out, and no allocation per frame beyond a few small objects.

Why one frame at a time: Java's ``TThreadPoolServer`` serves a connection on
one thread, so replies come back in request order and a client may pipeline
(the upload keeps four chunks in flight). A single task per connection
(``_serve``) gives the same order, and it is also what makes the zero-copy
buffer safe: only that task ever moves bytes in the buffer, and only between
frames.

The buffer: one anonymous ``mmap`` of ``2 * (4 + max_frame)`` bytes per
connection. Anonymous memory is mapped lazily, so a connection that only
makes small calls costs a few pages, not 2 MiB of zeroed ``bytearray``; a
page, once touched, stays mapped and is reused frame after frame. Invariants,
with ``_start`` the first byte not yet consumed and ``_end`` the end of what
was received:

- ``[_start, _end)`` is data: whole frames, then at most one partial frame.
  The transport only ever writes into ``[_end, capacity)`` (``get_buffer``),
  so a frame being handled, which lies below ``_end``, is never overwritten.
- A payload view is valid until the handler returns; after that its bytes may
  be moved or overwritten. Handlers must not keep it (``uploadChunk`` writes
  it out before returning).
- Bytes move (``_make_room``) only in the serve task, only when no handler
  runs and no whole frame waits, and only the partial frame moves: to the
  front of the buffer, and only when it would not fit where it is. Any frame
  is at most half the buffer, so it then fits, with room to read ahead.
- When ``_end`` reaches the end of the buffer, reading pauses (the transport
  must never be handed an empty buffer); the serve task resumes it once it
  has made room. A client that pipelines faster than frames are handled thus
  meets TCP backpressure, never an unbounded queue.

Replies go out with ``transport.write``. When the transport's buffer passes
its high-water mark (``pause_writing``), the serve task stops handling frames
until it drains (``resume_writing``), so a client that sends requests but
does not read replies fills first the emulator's receive buffer, then the
socket buffers, and is then stopped by TCP: memory stays bounded by one
receive buffer and one write buffer's high-water mark plus one reply.

A frame announcing more than ``max_frame`` bytes (or a negative length)
closes the connection without a reply, as Java's ``TFramedTransport`` does:
the stream can no longer be trusted to be in step. At end of stream, frames
already received are still answered, then the connection closes; a partial
frame is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import struct
from collections.abc import Awaitable, Callable

from pilothouse.operators.storm.nimbus import errors

log = logging.getLogger(__name__)

#: The frame header: a 4-byte big-endian signed length.
HEADER = struct.Struct(">i")

#: What a connection does with a frame: the reply frame, or None to close the connection.
Handler = Callable[[memoryview], Awaitable[bytes | None]]


class FramedConnection(asyncio.BufferedProtocol):
    """The protocol of one client connection; see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        max_frame: int,
        *,
        on_open: Callable[[FramedConnection], None] | None = None,
        on_done: Callable[[FramedConnection], None] | None = None,
    ) -> None:
        self.max_frame = max_frame
        self.capacity = 2 * (HEADER.size + max_frame)
        #: Where the peer connects from, for logs.
        self.peer = "?"
        #: The serve task, once connected; it ends when the connection is done with.
        self.task: asyncio.Task[None] | None = None
        #: Done once the transport has gone (``connection_lost``).
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handler = handler
        self._on_open = on_open
        self._on_done = on_done
        # MAP_PRIVATE: memory of this process alone, not shared with children it may fork.
        self._memory = mmap.mmap(-1, self.capacity, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._view = memoryview(self._memory)
        self._start = 0
        self._end = 0
        self._transport: asyncio.Transport | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._eof = False
        self._closing = False
        self._reading_paused = False
        self._writing_paused = False

    # -- state, for the server and tests ------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (at most ``capacity``)."""
        return self._end - self._start

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    @property
    def writing_paused(self) -> bool:
        return self._writing_paused

    @property
    def write_buffer_size(self) -> int:
        """Reply bytes written but not yet taken by the socket."""
        return 0 if self._transport is None else self._transport.get_write_buffer_size()

    def close(self) -> None:
        """Stop after the frame in hand (its reply is dropped), then close the transport."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()
        self._wake()

    def abort(self) -> None:
        """Drop the transport now, unsent replies and all (``connection_lost`` follows)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()
        self._wake()

    # -- asyncio.BufferedProtocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.task = asyncio.get_running_loop().create_task(
            self._serve(), name=f"nimbus-emulator-connection-{self.peer}"
        )
        if self._on_done is not None:
            on_done = self._on_done
            # A done callback rather than a finally: it runs even for a task cancelled
            # before its first step.
            self.task.add_done_callback(lambda _: on_done(self))
        if self._on_open is not None:
            self._on_open(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        # Never empty: buffer_updated pauses reading when the buffer is full.
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        if self._end == self.capacity:
            self._pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        # Keep the transport open: frames already received are still answered (the serve
        # task closes it when done), as a half-closing client expects.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.debug("connection from %s lost: %s", self.peer, exc)
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # -- the serve task -----------------------------------------------------------------------

    async def _serve(self) -> None:
        cancelled = False
        try:
            await self._serve_frames()
        except errors.FrameTooLargeError as exc:
            log.warning("closing connection from %s: %s", self.peer, exc)
        except asyncio.CancelledError:
            # Only the server's stop cancels, as a last resort, and this is the top of the task.
            cancelled = True
        except Exception:
            log.exception("connection from %s failed; closing it", self.peer)
        finally:
            await self._finish(abort=cancelled)

    async def _serve_frames(self) -> None:
        assert self._transport is not None
        while not self._done():
            payload = self._next_frame()
            if payload is None:
                if self._eof:
                    return
                self._make_room()
                await self._wait()
                continue
            try:
                reply = await self._handler(payload)
            finally:
                self._start += HEADER.size + len(payload)
            if reply is None or self._done():
                return
            self._transport.write(reply)
            while self._writing_paused and not self._done():
                await self._wait()

    def _next_frame(self) -> memoryview | None:
        """The payload of the whole frame at ``_start``, or None if it has not all arrived."""
        available = self._end - self._start
        if available < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._memory, self._start)
        if length < 0 or length > self.max_frame:
            raise errors.FrameTooLargeError(
                f"read a frame size of {length}, which is bigger than the maximum allowable "
                f"buffer size of {self.max_frame} (nimbus.thrift.max_buffer_size)"
            )
        if available < HEADER.size + length:
            return None
        begin = self._start + HEADER.size
        return self._view[begin : begin + length]

    def _make_room(self) -> None:
        """Room for the partial frame at ``_start`` to arrive whole; reading resumed if paused.

        Called by the serve task only, with no handler running and no whole frame waiting.
        """
        pending = self._end - self._start
        if pending == 0:
            self._start = self._end = 0
        elif self._start > 0:
            if pending >= HEADER.size:
                (length,) = HEADER.unpack_from(self._memory, self._start)  # checked by _next_frame
                needed = HEADER.size + length
            else:
                needed = HEADER.size + self.max_frame
            if self._start + needed > self.capacity:
                self._memory.move(0, self._start, pending)
                self._start, self._end = 0, pending
        if self._reading_paused and self._end < self.capacity:
            self._reading_paused = False
            assert self._transport is not None
            self._transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    def _done(self) -> bool:
        return self._closing or self.lost.done()

    async def _wait(self) -> None:
        """Until something happens: data, end of stream, writability, close or loss."""
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _finish(self, *, abort: bool) -> None:
        assert self._transport is not None
        if abort:
            self._transport.abort()
            return
        # close() sends the replies already written, then calls connection_lost.
        self._transport.close()
        try:
            await asyncio.wait([self.lost])
        except asyncio.CancelledError:
            # The peer does not read what is left to send, and stop() is done waiting.
            self._transport.abort()
