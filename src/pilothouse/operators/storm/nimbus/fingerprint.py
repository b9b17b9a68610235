"""A file's sha256, and the identity that proves the bytes later sent are the bytes hashed.

``fingerprint(path)`` hashes a file in a worker thread (constant memory;
cancelling it stops the thread at its next chunk) and pins its ``FileIdentity``
(device, inode, size, mtime and ctime) from before to after hashing. The upload
(``upload.upload_file(..., fingerprint=fp)``) then checks that identity at its
start and end instead of hashing the stream again: on loopback, sha256 costs
about as much as moving the bytes, and the client needs the hash first anyway,
as the JAR cache's key. The guarantee rests on ctime: the kernel moves it on
every write and no one can set it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import threading
from pathlib import Path

from pilothouse.operators.storm.nimbus import errors

#: ``sha256_file`` reads this much at a time.
HASH_CHUNK_SIZE = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class FileIdentity:
    """What must not change about a file while it is hashed and uploaded.

    ``ctime`` is the strong part: the kernel moves it on every write and nobody can
    set it back (``utime`` sets mtime, and moves ctime too), so content rewritten in
    place, even keeping size and mtime, still shows.
    """

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclasses.dataclass(frozen=True, slots=True)
class Fingerprint:
    """A file's sha256, with the identity it kept from before to after hashing."""

    path: Path
    sha256: str
    size: int
    identity: FileIdentity


async def fingerprint(path: Path, *, chunk_size: int = HASH_CHUNK_SIZE) -> Fingerprint:
    """Hash ``path`` and pin its identity; ``UploadError`` if it changed while hashed.

    ``upload_file(..., fingerprint=fp)`` then streams without hashing again: the
    identity must still be the same when the upload starts and ends, which (see
    ``FileIdentity``) means the bytes sent are the bytes hashed. That is what keeps
    a large upload from paying for sha256 twice (once for the cache key, once on
    the way); hashing runs at roughly the speed of loopback itself.
    """
    before = FileIdentity.of(await asyncio.to_thread(os.stat, path))
    digest = await sha256_file(path, chunk_size=chunk_size)
    after = FileIdentity.of(await asyncio.to_thread(os.stat, path))
    if before != after:
        raise errors.UploadError(f"{path} changed while it was being hashed")
    return Fingerprint(path, digest, before.size, before)


def _hash_file(path: Path, chunk_size: int, stop: threading.Event) -> str | None:
    digest = hashlib.sha256()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while not stop.is_set():
            n = f.readinto(view)
            if not n:
                return digest.hexdigest()
            digest.update(view[:n])
    return None


async def sha256_file(path: Path, *, chunk_size: int = HASH_CHUNK_SIZE) -> str:
    """The sha256 (hex) of the file at ``path``, in constant memory.

    A file bigger than one chunk is hashed in a worker thread so the event loop
    keeps running; cancelling the call stops that thread at its next chunk.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    stop = threading.Event()
    if os.stat(path).st_size <= chunk_size:
        result = _hash_file(path, chunk_size, stop)
    else:
        try:
            result = await asyncio.to_thread(_hash_file, path, chunk_size, stop)
        finally:
            stop.set()
    assert result is not None  # only None when stopped, and then we were cancelled
    return result
