"""JAR upload and blob download over real TCP, against a small sink that speaks Nimbus's wire.

The sink (``Sink``) answers only the transfer calls, the way Nimbus does: it hands
out upload locations, hashes the chunks it receives instead of keeping them (so
the memory check measures the client, not a buffer of the whole file), records
every call, and serves blobs from files. Switches make it die after a number of
chunks, stall, or announce a wrong blob size.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import time
import tracemalloc
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import (
    connection,
    download,
    endpoint,
    errors,
    idl,
    jarcache,
    upload,
    wire,
)
from pilothouse.operators.storm.nimbus import fingerprint as fingerprint_mod
from pilothouse.testing import eventually

INBOX = "/var/storm/nimbus/inbox"


def sink_location(n: int) -> str:
    """The location the sink hands out for its ``n``-th upload (fixed length, on purpose)."""
    return f"{INBOX}/stormjar-{n:06d}.jar"


@dataclasses.dataclass
class Received:
    digest: Any = dataclasses.field(default_factory=hashlib.sha256)
    sizes: list[int] = dataclasses.field(default_factory=list)
    finished: bool = False


class Sink:
    """A Nimbus stand-in on 127.0.0.1 for ``beginFileUpload``/``uploadChunk``/… and blobs."""

    def __init__(self, max_frame: int = wire.DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.uploads: dict[str, Received] = {}
        self.calls: list[str] = []
        self.blobs: dict[str, Path] = {}
        self.blob_chunk = 65_536
        self.announce_extra = 0
        self.die_after_chunks: int | None = None
        self.stall_after_chunks: int | None = None
        self._chunks = 0
        self._sessions: dict[str, tuple[Path, int]] = {}
        self._release = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def endpoint(self) -> endpoint.Endpoint:
        assert self._server is not None
        return endpoint.Endpoint("127.0.0.1", self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Sink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self._release.set()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def finished(self) -> list[str]:
        return [loc for loc, received in self.uploads.items() if received.finished]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    payload = await wire.read_frame(reader, self.max_frame)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                call = wire.decode_call(payload)
                self.calls.append(call.method)
                if call.method in ("uploadChunk", "downloadBlobChunk"):
                    self._chunks += 1
                    if self._chunks == self.die_after_chunks:
                        writer.transport.abort()
                        return
                    if self._chunks == self.stall_after_chunks:
                        await self._release.wait()
                        return
                writer.write(self._answer(call))
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, call: wire.Call) -> bytes:
        result = wire.result_for(call)
        args = call.args
        if call.method == "beginFileUpload":
            result.success = sink_location(len(self.uploads))
            self.uploads[result.success] = Received()
        elif call.method in ("uploadChunk", "finishFileUpload"):
            received = self.uploads.get(args.location)
            if received is None or received.finished:
                return wire.encode_application_error(
                    call.method,
                    call.seqid,
                    f"File for that location does not exist: {args.location}",
                )
            if call.method == "uploadChunk":
                received.digest.update(args.chunk)
                received.sizes.append(len(args.chunk))
            else:
                received.finished = True
        elif call.method == "beginBlobDownload":
            path = self.blobs.get(args.key)
            if path is None:
                result.knf = idl.storm.KeyNotFoundException(msg=args.key)
            else:
                session = f"session-{len(self._sessions)}"
                self._sessions[session] = (path, 0)
                result.success = idl.storm.BeginDownloadResult(
                    version=1,
                    session=session,
                    data_size=path.stat().st_size + self.announce_extra,
                )
        elif call.method == "downloadBlobChunk":
            path, offset = self._sessions[args.session]
            with path.open("rb") as f:
                f.seek(offset)
                result.success = f.read(self.blob_chunk)
            self._sessions[args.session] = (path, offset + len(result.success))
        elif call.method == "getNimbusConf":
            result.success = json.dumps({"nimbus.inbox.jar.expiration.secs": 3600})
        else:
            raise AssertionError(f"the sink does not answer {call.method}")
        return wire.encode_reply(call, result, self.max_frame)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with Sink() as s:
        yield s


@contextlib.asynccontextmanager
async def connected(
    sink: Sink, max_frame: int = wire.DEFAULT_MAX_FRAME
) -> AsyncIterator[connection.Connection]:
    conn = await connection.Connection.open(sink.endpoint, max_frame=max_frame)
    try:
        yield conn
    finally:
        await conn.close()


def write_random(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_calls(sink: Sink) -> int:
    return sink.calls.count("uploadChunk")


@pytest.mark.parametrize("window", [1, 4])
async def test_upload_delivers_every_byte_in_order(sink: Sink, tmp_path: Path, window: int) -> None:
    jar = tmp_path / "topology.jar"
    data = write_random(jar, 3 * 307_200 + 12_345)
    async with connected(sink) as conn:
        result = await upload.upload_file(conn, jar, expected_sha256=sha(data), window=window)
        assert not conn.broken
    assert result.location == sink_location(0)
    assert (result.size, result.sha256) == (len(data), sha(data))
    received = sink.uploads[result.location]
    assert received.digest.hexdigest() == sha(data)
    assert received.sizes == [307_200, 307_200, 307_200, 12_345]
    assert received.finished
    assert sink.calls == ["beginFileUpload"] + ["uploadChunk"] * 4 + ["finishFileUpload"]


async def test_empty_file_is_begun_and_finished_without_chunks(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "empty.jar"
    jar.write_bytes(b"")
    async with connected(sink) as conn:
        result = await upload.upload_file(conn, jar)
    assert (result.size, result.sha256) == (0, sha(b""))
    assert sink.calls == ["beginFileUpload", "finishFileUpload"]


async def test_progress_is_monotonic_and_ends_at_total_after_all_acks(
    sink: Sink, tmp_path: Path
) -> None:
    jar = tmp_path / "topology.jar"
    data = write_random(jar, 20 * 16_384 + 5)
    seen: list[upload.UploadProgress] = []
    acked_at_end: list[int] = []

    def progress(p: upload.UploadProgress) -> None:
        seen.append(p)
        if p.sent == p.total:
            acked_at_end.append(sum(sink.uploads[sink_location(0)].sizes))

    async with connected(sink) as conn:
        await upload.upload_file(conn, jar, chunk_size=16_384, progress=progress)
    # 21 chunks, each over 1 % of the file: every chunk but the last reports, then the end.
    assert [p.sent for p in seen] == [16_384 * i for i in range(1, 21)] + [len(data)]
    assert all(p.total == len(data) for p in seen)
    assert all(a.elapsed <= b.elapsed for a, b in itertools.pairwise(seen))
    assert seen[-1].fraction == 1.0
    assert acked_at_end == [len(data)]


async def test_progress_is_throttled_for_many_small_chunks(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "topology.jar"
    data = write_random(jar, 1000 * 1024)
    seen: list[int] = []
    started = time.monotonic()
    async with connected(sink) as conn:
        await upload.upload_file(conn, jar, chunk_size=1024, progress=lambda p: seen.append(p.sent))
    elapsed = time.monotonic() - started
    # One report per 1 % (10 chunks), one per 0.1 s on a slow machine, and the final one.
    assert 0 < len(seen) <= 100 + elapsed / 0.1 + 1
    assert seen[-1] == len(data)
    assert seen == sorted(seen)


async def test_sha256_mismatch_is_refused_and_never_finished(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 100_000)
    async with connected(sink) as conn:
        with pytest.raises(
            errors.UploadError, match=r"sha256 mismatch: expected 0+ got [0-9a-f]{64}"
        ):
            await upload.upload_file(conn, jar, expected_sha256="0" * 64, chunk_size=30_000)
        assert not conn.broken  # every reply was read: the connection is still usable
    assert chunk_calls(sink) == 4
    assert "finishFileUpload" not in sink.calls
    assert sink.finished() == []


def append(jar: Path) -> None:
    with jar.open("ab") as f:
        f.write(b"more")


def truncate(jar: Path) -> None:
    with jar.open("r+b") as f:
        f.truncate(3 * 16_384)


def rewrite_in_place(jar: Path) -> None:
    st = jar.stat()
    with jar.open("r+b") as f:
        f.write(b"X" * 10)
    # A distinct mtime even on a coarse-grained clock: the check must not depend on timing.
    os.utime(jar, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def replace(jar: Path) -> None:
    other = jar.with_suffix(".new")
    other.write_bytes(jar.read_bytes())
    other.replace(jar)


@pytest.mark.parametrize("modify", [append, truncate, rewrite_in_place, replace])
async def test_file_changed_while_uploading_is_refused(
    sink: Sink, tmp_path: Path, modify: Any
) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 10 * 16_384)
    modified: list[int] = []

    def progress(p: upload.UploadProgress) -> None:
        if not modified:
            modify(jar)
            modified.append(p.sent)

    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="changed while uploading"):
            await upload.upload_file(conn, jar, chunk_size=16_384, progress=progress)
    assert modified == [16_384]
    assert chunk_calls(sink) >= 1
    assert "finishFileUpload" not in sink.calls


async def test_chunk_size_must_fit_the_frame(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "topology.jar"
    data = write_random(jar, 200_000)
    max_frame = 65_536
    fits = upload.max_chunk_size(max_frame, sink_location(0))
    assert max_frame - 100 < fits < max_frame
    async with connected(sink, max_frame=max_frame) as conn:
        # Too big for any location: refused before anything is sent.
        with pytest.raises(ValueError, match="does not fit a 65536-byte Thrift frame"):
            await upload.upload_file(conn, jar, chunk_size=max_frame)
        assert sink.calls == []
        # Fits an empty location but not the one Nimbus handed out: refused before a chunk.
        with pytest.raises(ValueError, match="use at most"):
            await upload.upload_file(conn, jar, chunk_size=fits + 1)
        assert sink.calls == ["beginFileUpload"]
        sink.max_frame = max_frame  # the sink now refuses anything bigger, like Nimbus
        result = await upload.upload_file(conn, jar, chunk_size=fits)
    assert sink.uploads[result.location].sizes[0] == fits
    assert sink.uploads[result.location].digest.hexdigest() == sha(data)
    with pytest.raises(ValueError, match="must be positive"):
        await upload.upload_file(conn, jar, window=0)


async def test_only_regular_files_are_uploaded(sink: Sink, tmp_path: Path) -> None:
    async with connected(sink) as conn:
        with pytest.raises(ValueError, match="not a regular file"):
            await upload.upload_file(conn, tmp_path)
        with pytest.raises(FileNotFoundError):
            await upload.upload_file(conn, tmp_path / "missing.jar")
    assert sink.calls == []


async def test_server_dying_mid_upload_is_a_connection_failure(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 20 * 16_384)
    sink.die_after_chunks = 5
    async with connected(sink) as conn:
        with pytest.raises(errors.ConnectionFailed):
            await upload.upload_file(conn, jar, chunk_size=16_384)
        assert conn.broken
    assert "finishFileUpload" not in sink.calls


async def test_deadline_on_the_given_clock_stops_before_finishing(
    sink: Sink, tmp_path: Path
) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 20 * 16_384)
    ticks = iter(range(0, 10_000, 10))
    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="did not complete within its 100s deadline"):
            await upload.upload_file(
                conn, jar, chunk_size=16_384, deadline=100, clock=lambda: float(next(ticks))
            )
        assert not conn.broken
    assert 0 < chunk_calls(sink) < 20
    assert "finishFileUpload" not in sink.calls


async def test_deadline_bounds_a_call_that_hangs(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 20 * 16_384)
    sink.stall_after_chunks = 3
    async with connected(sink) as conn:
        started = time.monotonic()
        with pytest.raises(errors.UploadError, match="deadline"):
            await upload.upload_file(conn, jar, chunk_size=16_384, deadline=0.3)
        assert time.monotonic() - started < 5  # not the 30 s call timeout
        assert conn.broken
    assert "finishFileUpload" not in sink.calls


async def test_upload_memory_stays_constant_for_a_big_file(sink: Sink, tmp_path: Path) -> None:
    jar = tmp_path / "big.jar"
    size = 64 * 1024 * 1024
    with jar.open("wb") as f:
        f.truncate(size)  # sparse: no 64 MB written to disk
    tracemalloc.start()
    try:
        async with connected(sink) as conn:
            result = await upload.upload_file(conn, jar)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == size
    assert sink.uploads[result.location].digest.hexdigest() == result.sha256
    # Client and sink together hold a few chunks and frames at a time, never the file.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


async def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    small, big = tmp_path / "small", tmp_path / "big"
    small_data = write_random(small, 1000)
    big_data = write_random(big, 3 * 4096 + 1)
    assert await fingerprint_mod.sha256_file(small) == sha(small_data)
    assert await fingerprint_mod.sha256_file(big, chunk_size=4096) == sha(big_data)


async def test_jar_cache_ttl_from_nimbus_conf_over_the_wire(sink: Sink) -> None:
    async with connected(sink) as conn:
        conf = json.loads(await conn.call("getNimbusConf", 5.0))
    assert jarcache.JarCache.ttl_for(conf) == 2700.0


def test_progress_rate_and_fraction() -> None:
    assert upload.UploadProgress(50, 200, 2.0).rate == 25.0
    assert upload.UploadProgress(50, 200, 0.0).rate == 0.0
    assert upload.UploadProgress(50, 200, 2.0).fraction == 0.25
    assert upload.UploadProgress(0, 0, 0.0).fraction == 1.0
    assert upload.UploadProgress(10, 0, 1.0).fraction == 0.0  # total unknown
    assert download.topology_jar_key("wc-1-1700000000") == "wc-1-1700000000-stormjar.jar"


# -- download ------------------------------------------------------------------------------


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def blob(sink: Sink, tmp_path: Path) -> tuple[str, bytes]:
    source = tmp_path / "nimbus-blobstore" / "wc-1-1-stormjar.jar"
    source.parent.mkdir()
    data = write_random(source, 5 * 65_536 + 77)
    key = download.topology_jar_key("wc-1-1")
    sink.blobs[key] = source
    return key, data


async def test_download_round_trip(sink: Sink, tmp_path: Path, blob: tuple[str, bytes]) -> None:
    key, data = blob
    dest = tmp_path / "out" / "topology.jar"
    dest.parent.mkdir()
    seen: list[upload.UploadProgress] = []
    async with connected(sink) as conn:
        result = await download.download_blob(
            conn, key, dest, expected_sha256=sha(data).upper(), progress=seen.append
        )
    assert result == download.DownloadResult(dest, len(data), sha(data))
    assert dest.read_bytes() == data
    assert [p.sent for p in seen] == [65_536 * i for i in range(1, 6)] + [len(data)]
    assert seen[-1].total == len(data)
    assert leftovers(dest.parent) == []


async def test_download_sha_mismatch_keeps_the_old_file_and_no_partial(
    sink: Sink, tmp_path: Path, blob: tuple[str, bytes]
) -> None:
    key, _ = blob
    dest = tmp_path / "topology.jar"
    dest.write_bytes(b"previous")
    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="sha256 mismatch"):
            await download.download_blob(conn, key, dest, expected_sha256="f" * 64)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


async def test_download_of_an_unknown_key(sink: Sink, tmp_path: Path) -> None:
    async with connected(sink) as conn:
        with pytest.raises(errors.KeyNotFoundError):
            await download.download_blob(conn, "nope-stormjar.jar", tmp_path / "x.jar")
        assert not conn.broken
    assert entries(tmp_path) == []


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_download_shorter_than_announced(
    sink: Sink, tmp_path: Path, blob: tuple[str, bytes]
) -> None:
    key, _ = blob
    sink.announce_extra = 1
    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="ended after"):
            await download.download_blob(conn, key, tmp_path / "x.jar")
    assert not (tmp_path / "x.jar").exists()
    assert leftovers(tmp_path) == []


async def test_download_longer_than_announced(
    sink: Sink, tmp_path: Path, blob: tuple[str, bytes]
) -> None:
    key, _ = blob
    sink.announce_extra = -100
    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="longer than"):
            await download.download_blob(conn, key, tmp_path / "x.jar")
    assert leftovers(tmp_path) == []


async def test_download_server_dies_midway(
    sink: Sink, tmp_path: Path, blob: tuple[str, bytes]
) -> None:
    key, _ = blob
    sink.die_after_chunks = 3
    async with connected(sink) as conn:
        with pytest.raises(errors.ConnectionFailed):
            await download.download_blob(conn, key, tmp_path / "x.jar")
    assert not (tmp_path / "x.jar").exists()
    assert leftovers(tmp_path) == []


async def test_download_cancelled_midway_leaves_nothing(
    sink: Sink, tmp_path: Path, blob: tuple[str, bytes]
) -> None:
    key, _ = blob
    sink.stall_after_chunks = 3
    async with connected(sink) as conn:
        task = asyncio.create_task(download.download_blob(conn, key, tmp_path / "x.jar"))

        async def stalled() -> bool:
            return chunk_downloads(sink) >= 3

        await eventually.eventually_async(stalled, message="the download reaching the stall")
        assert leftovers(tmp_path) != []  # the partial file exists while it downloads
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not (tmp_path / "x.jar").exists()
    assert leftovers(tmp_path) == []


def chunk_downloads(sink: Sink) -> int:
    return sink.calls.count("downloadBlobChunk")


def rewrite_same_mtime(jar: Path) -> None:
    # Same size, same mtime (set back): only ctime tells, and the kernel always moves it.
    st = jar.stat()
    with jar.open("r+b") as f:
        f.write(b"Y" * 10)
    os.utime(jar, ns=(st.st_atime_ns, st.st_mtime_ns))


async def test_a_fingerprinted_upload_sends_the_hashed_bytes_without_hashing_again(
    sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jar = tmp_path / "topology.jar"
    data = write_random(jar, 5 * 16_384 + 7)
    fp = await fingerprint_mod.fingerprint(jar)
    assert (fp.sha256, fp.size) == (sha(data), len(data))

    def no_hashing(*args: object) -> None:
        raise AssertionError("the upload hashed again")

    # Only the upload module's view of hashlib: the sink below still hashes what it gets.
    monkeypatch.setattr(upload, "hashlib", types.SimpleNamespace(sha256=no_hashing))
    async with connected(sink) as conn:
        result = await upload.upload_file(
            conn, jar, fingerprint=fp, expected_sha256=sha(data), chunk_size=16_384
        )
    assert result.sha256 == sha(data)
    assert sink.uploads[result.location].digest.hexdigest() == sha(data)
    assert sink.uploads[result.location].finished


@pytest.mark.parametrize("modify", [append, rewrite_in_place, rewrite_same_mtime, replace])
async def test_a_file_changed_after_its_fingerprint_is_refused(
    sink: Sink, tmp_path: Path, modify: Any
) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 4 * 16_384)
    fp = await fingerprint_mod.fingerprint(jar)
    modify(jar)
    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="changed since it was hashed"):
            await upload.upload_file(conn, jar, fingerprint=fp, chunk_size=16_384)
    assert sink.calls == []


@pytest.mark.parametrize("modify", [rewrite_same_mtime, append])
async def test_a_fingerprinted_file_changed_while_uploading_is_refused(
    sink: Sink, tmp_path: Path, modify: Any
) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 10 * 16_384)
    fp = await fingerprint_mod.fingerprint(jar)
    modified: list[int] = []

    def progress(p: upload.UploadProgress) -> None:
        if not modified:
            modify(jar)
            modified.append(p.sent)

    async with connected(sink) as conn:
        with pytest.raises(errors.UploadError, match="changed while uploading"):
            await upload.upload_file(
                conn, jar, fingerprint=fp, chunk_size=16_384, progress=progress
            )
    assert "finishFileUpload" not in sink.calls


async def test_a_file_changed_while_it_is_hashed_gets_no_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jar = tmp_path / "topology.jar"
    write_random(jar, 1000)
    real = fingerprint_mod.sha256_file

    async def hash_then_change(path: Path, **kwargs: Any) -> str:
        digest = await real(path, **kwargs)
        append(path)
        return digest

    monkeypatch.setattr(fingerprint_mod, "sha256_file", hash_then_change)
    with pytest.raises(errors.UploadError, match="changed while it was being hashed"):
        await fingerprint_mod.fingerprint(jar)
