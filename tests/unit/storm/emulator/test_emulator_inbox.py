"""Uploads in the emulator's inbox on a fake clock: chunks, finish, claim, and both expiry
rules (idle sessions, unsubmitted JARs), plus the blob download sessions."""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Iterator

import pytest

from pilothouse.operators.storm.nimbus import errors
from pilothouse.operators.storm.nimbus.emulator import downloads, inbox


class Clock:
    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def finish(box: inbox.Inbox, location: str) -> int:
    return asyncio.run(box.finish(location))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box(tmp_path: pathlib.Path, clock: Clock) -> Iterator[inbox.Inbox]:
    b = inbox.Inbox(
        tmp_path / "inbox", clock, upload_expiration_secs=600, inbox_expiration_secs=3600
    )
    b.ensure_dir()
    yield b
    b.close()


def test_chunks_become_a_jar_only_when_finished(box: inbox.Inbox) -> None:
    location = box.begin()
    assert location.startswith(str(box.directory / "stormjar-")) and location.endswith(".jar")
    box.append(location, b"abc")
    box.append(location, memoryview(b"xdefx")[1:4])
    assert not pathlib.Path(location).exists()
    with pytest.raises(errors.ApplicationError, match="does not exist"):
        box.claim(location)
    assert finish(box, location) == 6
    assert pathlib.Path(location).read_bytes() == b"abcdef"
    assert box.claim(location) == pathlib.Path(location)
    # Finished: no more chunks.
    with pytest.raises(errors.ApplicationError, match=r"^File for that location does not exist"):
        box.append(location, b"more")


def test_idle_sessions_expire_with_their_part_file(box: inbox.Inbox, clock: Clock) -> None:
    idle, busy = box.begin(), box.begin()
    clock.now += 400
    box.append(busy, b"x")
    clock.now += 300  # idle: 700 s since its last chunk; busy: 300 s
    assert box.sweep() == 1
    assert box.sessions == 1
    assert not pathlib.Path(idle + ".part").exists()
    with pytest.raises(errors.ApplicationError, match="does not exist \\(or timed out\\)"):
        box.append(idle, b"x")
    clock.now += 601  # expiry is also checked when a chunk arrives, between sweeps
    with pytest.raises(errors.ApplicationError, match="timed out"):
        box.append(busy, b"x")
    assert box.sessions == 0 and list(box.directory.iterdir()) == []


def test_unsubmitted_jars_expire(box: inbox.Inbox, clock: Clock) -> None:
    old = box.begin()
    finish(box, old)
    clock.now += 3000
    new = box.begin()
    finish(box, new)
    clock.now += 700  # old: 3700 s, new: 700 s
    with pytest.raises(errors.ApplicationError, match="expired after 3600s"):
        box.claim(old)
    assert not pathlib.Path(old).exists()
    assert box.sweep() == 0
    clock.now += 3000
    assert box.sweep() == 1
    assert list(box.directory.iterdir()) == []


def test_claim_refuses_anything_but_an_inbox_jar(box: inbox.Inbox, tmp_path: pathlib.Path) -> None:
    outside = tmp_path / "stormjar-x.jar"
    outside.write_bytes(b"x")
    for location in [None, "", str(outside), str(box.directory / "other.jar")]:
        with pytest.raises(errors.ApplicationError, match="does not exist"):
            box.claim(location)


def test_clear_partial_deletes_only_files_no_session_owns(box: inbox.Inbox) -> None:
    live = box.begin()
    leftover = box.directory / "stormjar-old.jar.part"
    leftover.write_bytes(b"half")
    assert box.clear_partial() == 1
    assert not leftover.exists() and pathlib.Path(live + ".part").exists()


def test_close_abandons_open_uploads(box: inbox.Inbox) -> None:
    location = box.begin()
    box.close()
    assert not pathlib.Path(location + ".part").exists()


def test_downloads_stream_in_chunks_and_end_with_an_empty_one(
    tmp_path: pathlib.Path, clock: Clock
) -> None:
    data = os.urandom(2500)
    path = tmp_path / "blob"
    path.write_bytes(data)
    d = downloads.Downloads(clock, expiration_secs=60, chunk_size=1000)
    for source in (path, data):
        session, size = d.begin(source)
        assert size == 2500
        chunks = [d.next_chunk(session) for _ in range(4)]
        assert [len(c) for c in chunks] == [1000, 1000, 500, 0]
        assert b"".join(chunks) == data
        with pytest.raises(errors.ApplicationError, match="does not exist"):
            d.next_chunk(session)
    idle, _ = d.begin(data)
    clock.now += 61
    assert d.sweep() == 1
    with pytest.raises(errors.ApplicationError):
        d.next_chunk(idle)
    gone, _ = d.begin(path)
    path.unlink()
    with pytest.raises(errors.ApplicationError, match="deleted"):
        d.next_chunk(gone)
    assert d.sessions == 0
