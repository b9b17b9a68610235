"""Blob download from Nimbus, atomically onto a destination file.

Storm 2.x has no file download; a submitted
topology's JAR is the blob ``topology_jar_key(topology_id)``, read with
``beginBlobDownload`` and ``downloadBlobChunk`` until an empty chunk. It streams
into a temporary file beside ``dest`` (writes go to the page cache from the
event loop; the fsync runs in a thread), and renames it onto ``dest`` only when
it is complete and checked; on any failure (cancellation included) the
partial file is removed and ``dest`` is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import tempfile
import time
from pathlib import Path

from pilothouse.operators.storm.nimbus import connection, errors, upload


@dataclasses.dataclass(frozen=True, slots=True)
class DownloadResult:
    """A completed download: the file now at ``path``, its size and sha256 (hex)."""

    path: Path
    size: int
    sha256: str


def topology_jar_key(topology_id: str) -> str:
    """The blob key under which Nimbus keeps a submitted topology's JAR."""
    return f"{topology_id}-stormjar.jar"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; some filesystems cannot fsync a directory, which only
    # weakens durability after a crash, so that is not an error.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


async def download_blob(
    conn: connection.Connection,
    key: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    call_timeout: float = 30.0,
    progress: upload.ProgressCallback | None = None,
    clock: upload.Clock = time.monotonic,
) -> DownloadResult:
    """Download the blob ``key`` to ``dest``, atomically; ``dest``'s directory must exist.

    Chunks are fetched one call at a time (the end is only known from an empty
    chunk, so calls past it cannot be pipelined safely) and written to a
    temporary file in ``dest``'s directory, which is fsynced and renamed onto
    ``dest`` once complete. Raises ``errors.KeyNotFoundError`` for an unknown key,
    ``errors.UploadError`` when the size differs from the one Nimbus announced
    or the sha256 from ``expected_sha256``, and the typed transport errors; in
    every failure the partial file is removed and ``dest`` is left as it was.
    """
    start = clock()
    # First, so that a destination we cannot write fails before Nimbus opens a session.
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    fd_open = True
    received = 0
    digest = hashlib.sha256()
    try:
        begin = await conn.call("beginBlobDownload", call_timeout, key=key)
        announced: int | None = begin.data_size
        throttle = upload.Throttle(progress, announced or 0, clock, start)
        while chunk := await conn.call("downloadBlobChunk", call_timeout, session=begin.session):
            received += len(chunk)
            if announced is not None and received > announced:
                raise errors.UploadError(
                    f"blob {key!r} is longer than the {announced} bytes Nimbus announced"
                )
            digest.update(chunk)
            _write_all(fd, chunk)
            throttle.update(received)
        # The worker closes fd even if we are cancelled while it fsyncs: the fd must not
        # be closed (and its number reused) under a running fsync.
        fd_open = False
        await asyncio.to_thread(_fsync_close, fd)
        sha256 = digest.hexdigest()
        if announced is not None and received != announced:
            raise errors.UploadError(
                f"blob {key!r} ended after {received} of the {announced} bytes Nimbus announced"
            )
        if expected_sha256 is not None and sha256 != expected_sha256.lower():
            raise errors.UploadError(
                f"sha256 mismatch for blob {key!r}: expected {expected_sha256} got {sha256}"
            )
        os.replace(tmp_name, dest)
    except BaseException:
        if fd_open:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    await asyncio.to_thread(_fsync_dir, dest.parent)
    throttle.final(received, received)
    return DownloadResult(dest, received, sha256)
