"""Blob downloads: ``beginBlobDownload`` and ``downloadBlobChunk``.

Storm 2.x dropped ``beginFileDownload``; a submitted topology's JAR, code and
conf are blobs (``<id>-stormjar.jar``, ``<id>-stormcode.ser``,
``<id>-stormconf.ser``) read through a session: begin, then chunks until an
empty one. The handler resolves the key to a source (a file, or bytes for the
conf, which lives in ``state.json``); this module keeps the sessions.

A session holds a path and an offset, not an open file: each chunk opens,
seeks, reads and closes. That costs a few syscalls per 512 KiB but means an
abandoned session holds no descriptor (nothing to leak, nothing for the
ResourceWarning check to find), and sessions idle past the expiry are simply
forgotten. A source deleted mid-download (the topology was removed) fails the
next chunk with an application error, as a vanished blob does in Storm.
"""

from __future__ import annotations

import dataclasses
import pathlib
import uuid
from collections.abc import Callable

from pilothouse.operators.storm.nimbus import errors

#: The largest chunk we send; also bounded by the frame limit.
CHUNK_SIZE = 512 * 1024

_INTERNAL_ERROR = 6  # TApplicationException.INTERNAL_ERROR


@dataclasses.dataclass
class _Session:
    source: pathlib.Path | bytes
    size: int
    last_active: float
    offset: int = 0


class Downloads:
    """Open download sessions, by session id."""

    def __init__(self, clock: Callable[[], float], expiration_secs: float, chunk_size: int) -> None:
        self.clock = clock
        self.expiration_secs = expiration_secs
        self.chunk_size = chunk_size
        self._sessions: dict[str, _Session] = {}

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def begin(self, source: pathlib.Path | bytes) -> tuple[str, int]:
        """A new session reading ``source``: its id and the data size."""
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        session = str(uuid.uuid4())
        self._sessions[session] = _Session(source, size, self.clock())
        return session, size

    def next_chunk(self, session_id: str) -> bytes:
        """The next chunk; ``b""`` once the data is exhausted (which also ends the session)."""
        session = self._sessions.get(session_id)
        if session is None or self.clock() - session.last_active > self.expiration_secs:
            self._sessions.pop(session_id, None)
            raise errors.ApplicationError(
                f"Blob for session {session_id} does not exist (or timed out)", _INTERNAL_ERROR
            )
        if session.offset >= session.size:
            del self._sessions[session_id]
            return b""
        length = min(self.chunk_size, session.size - session.offset)
        if isinstance(session.source, bytes):
            chunk = session.source[session.offset : session.offset + length]
        else:
            try:
                with open(session.source, "rb") as f:
                    f.seek(session.offset)
                    chunk = f.read(length)
            except FileNotFoundError as exc:
                del self._sessions[session_id]
                raise errors.ApplicationError(
                    f"the blob of session {session_id} was deleted", _INTERNAL_ERROR
                ) from exc
        session.offset += len(chunk)
        session.last_active = self.clock()
        if not chunk:
            # The file shrank under us: end the download rather than loop forever.
            del self._sessions[session_id]
        return chunk

    def sweep(self) -> int:
        now = self.clock()
        idle = [k for k, s in self._sessions.items() if now - s.last_active > self.expiration_secs]
        for key in idle:
            del self._sessions[key]
        return len(idle)
