"""JAR uploads: ``beginFileUpload``, ``uploadChunk``, ``finishFileUpload``.

Like Storm, an upload is named by its final location,
``<data_dir>/inbox/stormjar-<uuid>.jar``, and the client passes that location
to ``submitTopology``. Unlike a naive implementation, the bytes go to
``<location>.part`` and are renamed to the location only by
``finishFileUpload``, after an fsync: a location that exists is a complete,
durable upload, so an unfinished upload (a client that gave up, an emulator
killed mid-upload) can never be submitted.

Speed: a 500 MB upload should run at a good fraction of loopback speed, so a
chunk costs one ``write`` to an already open file, nothing more: no fsync, no
state file update, no executor hop (a page-cache write of a 300 KB chunk takes
microseconds). The one fsync happens in ``finish``, on a worker thread, so the
event loop keeps serving other connections meanwhile.

Expiry, on the injectable clock:

- a session idle longer than ``upload_expiration_secs``
  (``nimbus.file.copy.expiration.secs``) is dropped with its ``.part`` file;
  later chunks for it get Storm's "File for that location does not exist (or
  timed out)";
- a finished JAR not submitted within ``inbox_expiration_secs``
  (``nimbus.inbox.jar.expiration.secs``) is deleted. Its age is its mtime, set
  from the clock at ``finish``, so the rule holds across restarts too.

``clear_partial`` removes ``.part`` files left by a previous process; only a
leader calls it (a follower sharing the directory must not delete the live
leader's uploads).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
import uuid
from collections.abc import Callable

from pilothouse.operators.storm.nimbus import errors
from pilothouse.operators.storm.nimbus.emulator import store

log = logging.getLogger(__name__)

#: Storm's message for a chunk or finish of an unknown or expired upload.
MISSING = "File for that location does not exist (or timed out)"

_PART = ".part"
_INTERNAL_ERROR = 6  # TApplicationException.INTERNAL_ERROR


@dataclasses.dataclass
class _Session:
    part: pathlib.Path
    fd: int
    last_active: float
    size: int = 0


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Inbox:
    """Upload sessions and finished JARs in one ``inbox`` directory."""

    def __init__(
        self,
        directory: pathlib.Path,
        clock: Callable[[], float],
        upload_expiration_secs: float,
        inbox_expiration_secs: float,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.upload_expiration_secs = upload_expiration_secs
        self.inbox_expiration_secs = inbox_expiration_secs
        self._sessions: dict[str, _Session] = {}

    def ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def clear_partial(self) -> int:
        """Delete ``.part`` files no live session owns (a previous process's); how many."""
        owned = {s.part for s in self._sessions.values()}
        stale = [p for p in self.directory.glob(f"*{_PART}") if p not in owned]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def begin(self) -> str:
        """A new upload's location."""
        location = str(self.directory / f"stormjar-{uuid.uuid4()}.jar")
        part = pathlib.Path(location + _PART)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._sessions[location] = _Session(part, fd, self.clock())
        return location

    def _live(self, location: str) -> _Session:
        session = self._sessions.get(location)
        if session is None:
            raise errors.ApplicationError(MISSING, _INTERNAL_ERROR)
        if self.clock() - session.last_active > self.upload_expiration_secs:
            self._drop(location)
            raise errors.ApplicationError(MISSING, _INTERNAL_ERROR)
        return session

    def append(self, location: str, chunk: bytes | memoryview) -> None:
        session = self._live(location)
        _write_all(session.fd, chunk)
        session.size += len(chunk)
        session.last_active = self.clock()

    async def finish(self, location: str) -> int:
        """Make the upload durable and visible at its location; its size."""
        session = self._live(location)
        # Out of the table first: chunks arriving during the fsync find no session.
        del self._sessions[location]
        try:
            await asyncio.to_thread(_sync_and_close, session.fd)
        except BaseException:
            session.part.unlink(missing_ok=True)
            raise
        os.replace(session.part, location)
        now = self.clock()
        os.utime(location, (now, now))
        store.fsync_dir(self.directory)
        return session.size

    def claim(self, location: str | None) -> pathlib.Path:
        """The finished JAR at ``location``, for submission; refused if it is not one."""
        path = pathlib.Path(location or "")
        if (
            not location
            or path.parent != self.directory
            or not path.name.startswith("stormjar-")
            or path.suffix != ".jar"
            or not path.is_file()
        ):
            raise errors.ApplicationError(
                f"uploaded JAR {location!r} does not exist (or timed out): "
                "upload it with beginFileUpload/uploadChunk/finishFileUpload first",
                _INTERNAL_ERROR,
            )
        if self._expired(path):
            path.unlink(missing_ok=True)
            raise errors.ApplicationError(
                f"uploaded JAR {location!r} expired after {self.inbox_expiration_secs:g}s "
                "(nimbus.inbox.jar.expiration.secs)",
                _INTERNAL_ERROR,
            )
        return path

    def _expired(self, path: pathlib.Path) -> bool:
        try:
            return self.clock() - path.stat().st_mtime > self.inbox_expiration_secs
        except FileNotFoundError:
            return True

    def sweep(self) -> int:
        """Drop idle sessions and delete expired JARs; how many of both."""
        now = self.clock()
        idle = [
            loc
            for loc, s in self._sessions.items()
            if now - s.last_active > self.upload_expiration_secs
        ]
        for location in idle:
            log.info("upload %s idle for over %gs: dropped", location, self.upload_expiration_secs)
            self._drop(location)
        old = [p for p in self.directory.glob("stormjar-*.jar") if self._expired(p)]
        for path in old:
            log.info("inbox JAR %s expired: deleted", path)
            path.unlink(missing_ok=True)
        return len(idle) + len(old)

    def _drop(self, location: str) -> None:
        session = self._sessions.pop(location)
        os.close(session.fd)
        session.part.unlink(missing_ok=True)

    def close(self) -> None:
        """Abandon every open upload (their ``.part`` files go too)."""
        for location in list(self._sessions):
            self._drop(location)
