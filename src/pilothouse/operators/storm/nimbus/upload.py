"""JAR transfer to and from Nimbus: chunked upload in constant memory, blob download.

Upload (``upload_file``) is Storm's three-call protocol on one connection to the
leader: ``beginFileUpload() -> location``, ``uploadChunk(location, chunk)`` for
each chunk, ``finishFileUpload(location)``. One call of ``upload_file`` is one
attempt; it never retries. Nimbus/transport errors propagate as the typed errors
of ``errors`` and the caller (``client``) decides whether to run a whole new
attempt, with a fresh ``beginFileUpload``: a half-sent session cannot be resumed.

Guarantees of ``upload_file``:

- **Constant memory.** The file is read one chunk at a time (and hashed as it
  streams, unless a ``fingerprint`` says what it hashes to); a chunk is dropped
  as soon as its frame is written, and ``Connection.pipeline`` drains the socket
  after each frame, so a few chunks' worth of buffers are alive at once,
  whatever the file's size or ``window`` (measured: a 2 MB tracemalloc peak for
  a 64 MB file, test server included).
- **Nothing corrupt is finished.** ``finishFileUpload`` is only called once every
  chunk was acknowledged and the checks below passed. Until then, Nimbus holds
  an unfinished session that it drops after ``nimbus.file.copy.expiration.secs``
  (600 s) without activity, and an unfinished location is never submitted.
- **Checked**: the chunk frame fits ``conn.max_frame`` (``ValueError``: before
  anything is sent when no location could make it fit, else right after
  ``beginFileUpload`` when the location Nimbus chose is too long for it); the
  file is the same file (device, inode, size, mtime and ctime: ``fingerprint_mod.FileIdentity``)
  at the end as at the start, or as when it was fingerprinted, and exactly that
  many bytes were sent; the sha256 equals ``expected_sha256`` when given; the
  upload ends within ``deadline`` seconds (default 540, inside Nimbus's 600 s
  session expiry). A failed check raises
  ``errors.UploadError``.
- **Not checkable**: what Nimbus wrote. ``uploadChunk`` returns nothing and
  Nimbus never reports a hash or a size, so the guarantee ends at "every chunk
  was acknowledged, in order, on one connection".

Why pipelining: each ``uploadChunk`` is a round trip, and waiting for every
acknowledgement before sending the next chunk leaves the link idle for one
round trip per chunk. Thrift servers read and answer one connection's frames in
order, so ``Connection.pipeline`` keeps ``window`` chunks in flight and reads
the replies in order; an error in any reply aborts the attempt (and breaks the
connection, since later replies are still on their way). On loopback the
client's CPU is the limit instead (most of it encoding frames, in ``wire``), so
there ``window`` matters less than over a network.

File reads (``os.pread``) and hashing run on the event loop thread. A 300 KB
chunk of a file in the page cache reads in tens of microseconds and hashes in
about 150; reading and hashing in a worker thread, with the next chunk
prefetched, measured no faster on loopback (about 425 MB/s either way) and
needs care to not close the file under a running read. The JAR is normally in
the page cache: it was just built, or just hashed by ``fingerprint.sha256_file``, which does
run in a thread because it reads a whole file in one go.
partial file is removed and ``dest`` is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import stat
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from pilothouse.operators.storm.nimbus import connection, errors, wire
from pilothouse.operators.storm.nimbus import fingerprint as fingerprint_mod

log = logging.getLogger(__name__)

#: Storm's own client (``StormSubmitter``) uploads in chunks of this size.
DEFAULT_CHUNK_SIZE = 307_200


# The frame limit covers the frame body, not its 4-byte length prefix (wire's module doc).
_FRAME_PREFIX = 4

# Progress callbacks run at most this often, or once per this fraction of the total.
_PROGRESS_INTERVAL = 0.1
_PROGRESS_STEP = 0.01


@dataclasses.dataclass(frozen=True, slots=True)
class UploadProgress:
    """How far a transfer is: ``sent`` of ``total`` bytes after ``elapsed`` seconds.

    ``sent`` counts bytes handed to the connection (received bytes, for a
    download). ``total`` is 0 when it is unknown (a download whose size Nimbus
    did not report).
    """

    sent: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Bytes per second so far; 0.0 before any time has passed."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float:
        """``sent / total`` in [0, 1]; 1.0 for an empty transfer, 0.0 while ``total`` is unknown."""
        if self.total > 0:
            return min(self.sent / self.total, 1.0)
        return 1.0 if self.sent == 0 else 0.0


ProgressCallback = Callable[[UploadProgress], None]
Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True, slots=True)
class UploadResult:
    """A finished upload: Nimbus's ``location`` for ``submitTopology``, and what was sent."""

    location: str
    size: int
    sha256: str
    seconds: float


def max_chunk_size(max_frame: int, location: str = "") -> int:
    """The largest ``uploadChunk`` payload whose frame fits ``max_frame`` for ``location``."""
    envelope = wire.encode_call("uploadChunk", 0, max_frame, location=location, chunk=b"")
    return max_frame - (len(envelope) - _FRAME_PREFIX)


def _check_chunk_size(chunk_size: int, max_frame: int, location: str) -> None:
    limit = max_chunk_size(max_frame, location)
    if chunk_size > limit:
        raise ValueError(
            f"chunk_size {chunk_size} does not fit a {max_frame}-byte Thrift frame "
            f"(nimbus.thrift.max_buffer_size) with the uploadChunk envelope"
            f"{f' for location {location!r}' if location else ''}: use at most {limit}"
        )


class Throttle:
    """Calls ``progress`` once 0.1 s or 1 % of ``total`` passed since its last call."""

    def __init__(
        self, progress: ProgressCallback | None, total: int, clock: Clock, start: float
    ) -> None:
        self._progress = progress
        self._total = total
        self._clock = clock
        self._start = start
        self._last_time = start
        self._last_sent = 0
        self._step = max(1, int(total * _PROGRESS_STEP))

    def update(self, sent: int) -> None:
        if self._progress is None:
            return
        now = self._clock()
        if now - self._last_time < _PROGRESS_INTERVAL and sent - self._last_sent < self._step:
            return
        self._report(sent, now, None)

    def final(self, sent: int, total: int | None = None) -> None:
        if self._progress is not None:
            self._report(sent, self._clock(), total)

    def _report(self, sent: int, now: float, total: int | None) -> None:
        assert self._progress is not None
        self._last_time, self._last_sent = now, sent
        self._progress(
            UploadProgress(sent, self._total if total is None else total, now - self._start)
        )


class _FileChunks:
    """The ``uploadChunk`` calls for one file, read and hashed as the pipeline asks for them.

    It reads the file's first ``size`` bytes, one chunk per call; ``sent``,
    ``chunks`` and ``digest`` account for what was handed to the connection. A
    problem (the file shrank under us, the deadline passed) ends the calls early
    and is recorded in ``problem`` rather than raised, so the calls already made
    are still answered in order, the connection stays usable, and ``upload_file``
    raises ``UploadError`` without finishing. Growth is caught by the stat check
    at the end.
    """

    def __init__(
        self,
        fd: int,
        size: int,
        chunk_size: int,
        location: str,
        throttle: Throttle,
        clock: Clock,
        give_up_at: float,
        hashing: bool,
    ) -> None:
        self._fd = fd
        self._size = size
        self._chunk_size = chunk_size
        self._location = location
        self._throttle = throttle
        self._clock = clock
        self._give_up_at = give_up_at
        # None when the caller's fingerprint already says what the file hashes to.
        self.digest = hashlib.sha256() if hashing else None
        self.sent = 0
        self.chunks = 0
        self.problem: str | None = None

    async def calls(self) -> AsyncGenerator[dict[str, Any], None]:
        while self.sent < self._size:
            if self._clock() > self._give_up_at:
                self.problem = "deadline"
                return
            data = os.pread(self._fd, min(self._chunk_size, self._size - self.sent), self.sent)
            if not data:
                self.problem = "changed"
                return
            if self.digest is not None:
                self.digest.update(data)
            self.sent += len(data)
            self.chunks += 1
            yield {"location": self._location, "chunk": data}
            del data  # the pipeline encoded it into a frame: do not keep it alive
            # The pipeline asks for the next chunk once this one is written. The last
            # one is reported by upload_file after every chunk is acknowledged.
            if self.sent < self._size:
                self._throttle.update(self.sent)


async def upload_file(
    conn: connection.Connection,
    path: Path,
    *,
    expected_sha256: str | None = None,
    fingerprint: fingerprint_mod.Fingerprint | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    window: int = 4,
    call_timeout: float = 30.0,
    deadline: float = 540.0,
    progress: ProgressCallback | None = None,
    clock: Clock = time.monotonic,
) -> UploadResult:
    """Upload the file at ``path`` to the Nimbus at the other end of ``conn``; one attempt.

    ``conn`` must lead to the leader (only it accepts uploads). ``window`` chunks
    are kept in flight; ``call_timeout`` bounds each reply; ``deadline`` bounds
    the whole upload, on ``clock`` between chunks and on the event loop's clock
    for a call that hangs. ``progress`` is called on the event loop after chunks
    are written (throttled to every 0.1 s or 1 %) and once at the end with
    ``sent == total``, after every chunk was acknowledged; an exception from it
    aborts the upload.

    With a ``fingerprint`` (from ``fingerprint(path)``), the file is not hashed
    again on the way: its identity must be the fingerprint's at the start and at
    the end, and the result's sha256 is the fingerprint's.

    Raises ``ValueError`` when ``chunk_size`` cannot fit ``conn.max_frame`` (or
    ``window``/``chunk_size`` are not positive); ``errors.UploadError`` when the
    file changed, the sha256 differs from ``expected_sha256`` or the deadline
    passed, in which case ``finishFileUpload`` was not called; ``OSError`` when
    the file cannot be read; and the typed Nimbus/transport errors of
    ``errors`` as they happen. Cancelling it abandons the session unfinished.
    """
    if chunk_size <= 0 or window <= 0:
        raise ValueError(f"chunk_size and window must be positive, got {chunk_size}, {window}")
    _check_chunk_size(chunk_size, conn.max_frame, "")
    start = clock()
    give_up_at = start + deadline
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file")
        before = fingerprint_mod.FileIdentity.of(st)
        if fingerprint is not None and fingerprint.identity != before:
            raise errors.UploadError(f"{path} changed since it was hashed; not uploaded")
        timeout_cm = asyncio.timeout(deadline)
        try:
            async with timeout_cm:
                location = await conn.call("beginFileUpload", call_timeout)
                _check_chunk_size(chunk_size, conn.max_frame, location)
                throttle = Throttle(progress, before.size, clock, start)
                chunks = _FileChunks(
                    fd,
                    before.size,
                    chunk_size,
                    location,
                    throttle,
                    clock,
                    give_up_at,
                    hashing=fingerprint is None,
                )
                calls = chunks.calls()
                async with contextlib.aclosing(calls):
                    await conn.pipeline("uploadChunk", call_timeout, calls, window)
                if chunks.problem == "deadline" or clock() > give_up_at:
                    raise _deadline_error(path, deadline)
                if fingerprint is not None:
                    sha256 = fingerprint.sha256
                else:
                    assert chunks.digest is not None
                    sha256 = chunks.digest.hexdigest()
                _verify(path, fd, before, chunks, sha256, expected_sha256)
                throttle.final(chunks.sent)
                await conn.call("finishFileUpload", call_timeout, location=location)
        except TimeoutError as exc:
            if timeout_cm.expired():
                raise _deadline_error(path, deadline) from exc
            raise
    finally:
        os.close(fd)
    result = UploadResult(location, chunks.sent, sha256, clock() - start)
    log.info(
        "uploaded %s to Nimbus %s as %s: %d bytes in %.1fs, sha256 %s",
        path,
        conn.endpoint,
        location,
        result.size,
        result.seconds,
        sha256,
    )
    return result


def _deadline_error(path: Path, deadline: float) -> errors.UploadError:
    return errors.UploadError(
        f"upload of {path} did not complete within its {deadline:g}s deadline; "
        "it was not finished, so Nimbus drops it"
    )


def _verify(
    path: Path,
    fd: int,
    before: fingerprint_mod.FileIdentity,
    chunks: _FileChunks,
    sha256: str,
    expected_sha256: str | None,
) -> None:
    """Raise ``UploadError`` unless what was sent is all of the unchanged file, as expected."""
    try:
        now_path = fingerprint_mod.FileIdentity.of(os.stat(path))
    except FileNotFoundError:
        now_path = None
    if (
        chunks.problem == "changed"
        or chunks.sent != before.size
        or fingerprint_mod.FileIdentity.of(os.fstat(fd)) != before
        or now_path != before
    ):
        raise errors.UploadError(
            f"{path} changed while uploading (size or mtime differ, or it was replaced); "
            "not finished"
        )
    if expected_sha256 is not None and sha256 != expected_sha256.lower():
        raise errors.UploadError(
            f"sha256 mismatch: expected {expected_sha256} got {sha256} (uploading {path}; "
            "not finished)"
        )
