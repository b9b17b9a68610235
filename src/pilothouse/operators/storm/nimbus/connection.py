"""One Thrift connection to one Nimbus.

A ``Connection`` carries one call at a time: Thrift over a framed transport has
no request ids the server could reorder by, so the answer to a call is simply
the next frame. The pool (``pool``) hands a connection to one caller at a time;
``call`` also holds a lock so misuse queues rather than interleaves.

Failure rules, which the retry logic above depends on:

- Any transport failure, timeout or cancellation during a call leaves the
  stream in an unknown state (half a frame written, an answer still on its
  way), so the connection is closed and ``broken`` becomes true. It is never
  reused.
- A Thrift-level answer (a declared exception, ``TApplicationException``)
  leaves the stream in step: the connection stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import errors, wire


class Connection:
    """An open framed-binary Thrift connection to ``endpoint``; use ``open`` to make one."""

    def __init__(
        self,
        endpoint: endpoint_mod.Endpoint,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        max_frame: int,
    ) -> None:
        self.endpoint = endpoint
        self.max_frame = max_frame
        self._reader = reader
        self._writer = writer
        self._seqid = 0
        self._lock = asyncio.Lock()
        self.broken = False
        self.created = time.monotonic()
        self.last_used = self.created

    @classmethod
    async def open(
        cls,
        endpoint: endpoint_mod.Endpoint,
        *,
        timeout: float = 5.0,
        max_frame: int = wire.DEFAULT_MAX_FRAME,
    ) -> Connection:
        """Connect within ``timeout`` s, or raise ``ConnectionFailed``/``CallTimeout``."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    endpoint.host, endpoint.port, limit=max_frame + 64
                )
        except TimeoutError as exc:
            raise errors.CallTimeout(f"connecting to Nimbus {endpoint} timed out") from exc
        except OSError as exc:
            raise errors.ConnectionFailed(f"cannot connect to Nimbus {endpoint}: {exc}") from exc
        return cls(endpoint, reader, writer, max_frame)

    def _next_seqid(self) -> int:
        self._seqid = (self._seqid + 1) & 0x7FFFFFFF
        return self._seqid

    async def call(self, method: str, timeout: float, /, **args: Any) -> Any:
        """Call ``method`` with Storm's parameter names; its result, or a typed error.

        Frames over ``max_frame`` raise ``FrameTooLargeError`` before anything is
        written (the connection stays usable).
        """
        seqid = self._next_seqid()
        frame = wire.encode_call(method, seqid, self.max_frame, **args)
        async with self._lock:
            payload = await self._exchange(method, timeout, [frame], 1)
        return wire.decode_reply(method, seqid, payload[0])

    async def pipeline(
        self, method: str, timeout: float, calls: AsyncIterator[dict[str, Any]], window: int
    ) -> int:
        """Call ``method`` once per argument set, keeping up to ``window`` calls in flight.

        Thrift servers process one connection's frames in order, so replies come
        back in order too; pipelining hides the round trip, which dominates a
        chunked upload on a fast link. Every reply is checked; the first error is
        raised (later calls may have run: use this only where that is harmless,
        as for the chunks of an upload that the error aborts). ``timeout``
        bounds the wait for each reply. Returns the number of calls made.
        """
        pending: list[int] = []
        count = 0
        async with self._lock:
            try:
                async for args in calls:
                    seqid = self._next_seqid()
                    self._writer.write(wire.encode_call(method, seqid, self.max_frame, **args))
                    pending.append(seqid)
                    count += 1
                    if len(pending) >= window:
                        await self._settle(method, timeout, pending.pop(0))
                    else:
                        await self._drain(timeout)
                while pending:
                    await self._settle(method, timeout, pending.pop(0))
            except BaseException:
                # Replies still in flight would put the stream out of step: done with it.
                self._break()
                raise
        return count

    async def _settle(self, method: str, timeout: float, seqid: int) -> None:
        payload = await self._exchange(method, timeout, [], 1)
        wire.decode_reply(method, seqid, payload[0])

    async def _drain(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            self._break()
            raise errors.CallTimeout(f"Nimbus {self.endpoint} stopped reading") from exc
        except (OSError, ConnectionError) as exc:
            self._break()
            raise errors.ConnectionFailed(f"connection to Nimbus {self.endpoint} lost") from exc

    async def _exchange(
        self, method: str, timeout: float, frames: Iterable[bytes], replies: int
    ) -> list[bytes]:
        if self.broken:
            raise errors.ConnectionFailed(f"connection to Nimbus {self.endpoint} is closed")
        try:
            async with asyncio.timeout(timeout):
                for frame in frames:
                    self._writer.write(frame)
                await self._writer.drain()
                payloads = [
                    await wire.read_frame(self._reader, self.max_frame) for _ in range(replies)
                ]
        except TimeoutError as exc:
            self._break()
            raise errors.CallTimeout(
                f"Nimbus {self.endpoint} did not answer {method} within {timeout:g}s"
            ) from exc
        except asyncio.IncompleteReadError as exc:
            self._break()
            raise errors.ConnectionFailed(
                f"Nimbus {self.endpoint} closed the connection during {method}"
            ) from exc
        except (OSError, ConnectionError) as exc:
            self._break()
            raise errors.ConnectionFailed(
                f"connection to Nimbus {self.endpoint} lost during {method}: {exc}"
            ) from exc
        except errors.FrameTooLargeError:
            self._break()
            raise
        except BaseException:
            # Cancelled mid-call: the reply may still arrive, so the stream is out of step.
            self._break()
            raise
        self.last_used = time.monotonic()
        return payloads

    def _break(self) -> None:
        if not self.broken:
            self.broken = True
            self._writer.close()

    async def close(self) -> None:
        """Close the socket and wait until it is closed; idempotent."""
        self._break()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()
