"""JARs on Nimbus for ``NimbusClient``: upload (once per leader), download, submit with a JAR.

``client.NimbusClient`` delegates its JAR methods here. They are several calls each and
carry their own rules, which is why they live apart from the one-call operations:

- **Upload** (``JarTransfers.upload_jar``): the file is fingerprinted first
  (``fingerprint.fingerprint``: its sha256 and its identity); the sha256 is the ``jarcache``
  key and is checked against the caller's expectation before anything is sent. Then
  ``upload.upload_file`` streams it to the leader in constant memory, checking the
  identity instead of hashing a second time, so a file that changes meanwhile is refused
  rather than half-uploaded. An attempt always begins a fresh upload location, so the
  pool may repeat a failed attempt from the start (``idempotent``); Nimbus expires the
  abandoned one, and an unfinished location can never be submitted.
- **Cache key**: ``<cluster>@<leader>``. Each leader has its own inbox, so a new leader
  has none of the old one's uploads: after a failover the first submit uploads again.
- **Submit with a JAR** (``JarTransfers.submit_topology``): validate the spec (nothing is sent if
  it is invalid), upload or reuse the cached upload, submit. When Nimbus refuses a
  *cached* location (it expired its inbox early, or restarted), that entry is dropped and
  the JAR uploaded and submitted once more before the error would reach the caller. A
  fresh upload that is refused is not retried: uploading it again cannot help.
- **Download** (``JarTransfers.download_jar``): a submitted topology's JAR is the blob
  ``<id>-stormjar.jar``; any Nimbus serves it, and a failed attempt leaves nothing behind
  (``download.download_blob``), so it is retried like a read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pilothouse.operators.storm.nimbus import (
    connection,
    download,
    errors,
    jarcache,
    model,
    pool,
    topology,
    upload,
)
from pilothouse.operators.storm.nimbus import fingerprint as fingerprint_mod


@dataclasses.dataclass(frozen=True, slots=True)
class UploadOptions:
    """How JARs move: chunk size, chunks in flight, per-call and whole-upload bounds.

    ``call_timeout`` bounds each call of an upload or a download (a chunk can take longer
    than a small read, so it is separate from the pool's ``call_timeout``). How often a
    failed transfer is tried again is the pool's ``retry`` policy.
    """

    chunk_size: int = upload.DEFAULT_CHUNK_SIZE
    window: int = 4
    call_timeout: float = 30.0
    #: Well inside Nimbus's 600 s ``nimbus.file.copy.expiration.secs``.
    deadline: float = 540.0


@dataclasses.dataclass(frozen=True, slots=True)
class JarUpload:
    """Where a JAR is on Nimbus, and whether this call uploaded it or found it cached."""

    location: str
    sha256: str
    size: int
    cached: bool
    seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class Submitted:
    """A submitted topology: its summary, and the JAR upload behind it."""

    summary: model.TopologySummary
    jar: JarUpload

    @property
    def id(self) -> str:
        return self.summary.id


#: ``(location, topology_struct, conf_json)`` -> the summary: ``NimbusClient.submit``, bound.
SubmitAt = Callable[[str, Any, str], Awaitable[model.TopologySummary]]


class JarTransfers:
    """JAR uploads, downloads and submissions of one cluster; see the module docstring."""

    def __init__(
        self,
        nimbus_pool: pool.NimbusPool,
        cache: jarcache.JarCache,
        *,
        cluster: str,
        options: UploadOptions,
    ) -> None:
        self.pool = nimbus_pool
        self.cache = cache
        self.cluster = cluster
        self.options = options

    def cache_key(self, leader: object) -> str:
        """The ``jarcache`` cluster key for uploads to ``leader``."""
        return f"{self.cluster}@{leader}"

    async def upload_jar(
        self,
        path: str | pathlib.Path,
        *,
        expected_sha256: str | None = None,
        progress: upload.ProgressCallback | None = None,
        use_cache: bool = True,
    ) -> JarUpload:
        """Upload a JAR to the leader, unless this leader already has it (by sha256)."""
        _, result = await self._upload(path, expected_sha256, progress, use_cache)
        return result

    async def _upload(
        self,
        path: str | pathlib.Path,
        expected_sha256: str | None,
        progress: upload.ProgressCallback | None,
        use_cache: bool,
    ) -> tuple[str | None, JarUpload]:
        """The upload, and the cache key it is (or would be) cached under."""
        jar = pathlib.Path(path)
        if not await asyncio.to_thread(jar.is_file):
            raise FileNotFoundError(f"no such JAR file: {jar}")
        begun = time.monotonic()
        fingerprint = await fingerprint_mod.fingerprint(jar)
        digest, size = fingerprint.sha256, fingerprint.size
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise errors.UploadError(
                f"{jar}: sha256 is {digest}, expected {expected_sha256.lower()}"
            )

        async def send() -> str:
            return await self._upload_once(jar, fingerprint, progress)

        if not use_cache:
            location = await send()
            return None, JarUpload(location, digest, size, False, time.monotonic() - begun)
        key = self.cache_key(await self.pool.leader())
        found = await self.cache.get_or_upload(key, digest, send)
        return key, JarUpload(found.location, digest, size, found.cached, time.monotonic() - begun)

    async def _upload_once(
        self,
        jar: pathlib.Path,
        fingerprint: fingerprint_mod.Fingerprint,
        progress: upload.ProgressCallback | None,
    ) -> str:
        options = self.options

        async def attempt(conn: connection.Connection) -> str:
            result = await upload.upload_file(
                conn,
                jar,
                fingerprint=fingerprint,
                chunk_size=options.chunk_size,
                window=options.window,
                call_timeout=options.call_timeout,
                deadline=options.deadline,
                progress=progress,
            )
            return result.location

        # Each attempt begins a fresh upload location, so repeating one is safe.
        return await self.pool.run(attempt, leader=True, idempotent=True)

    async def download_jar(
        self,
        topology_id: str,
        dest: str | pathlib.Path,
        *,
        expected_sha256: str | None = None,
        progress: upload.ProgressCallback | None = None,
    ) -> download.DownloadResult:
        """Download the JAR of a submitted topology (the ``<id>-stormjar.jar`` blob)."""
        key = download.topology_jar_key(topology_id)
        target = pathlib.Path(dest)

        async def attempt(conn: connection.Connection) -> download.DownloadResult:
            return await download.download_blob(
                conn,
                key,
                target,
                expected_sha256=expected_sha256,
                call_timeout=self.options.call_timeout,
                progress=progress,
            )

        return await self.pool.run(attempt, leader=False, idempotent=True)

    async def submit_topology(
        self,
        spec: topology.TopologySpec,
        jar: str | pathlib.Path,
        submit_at: SubmitAt,
        *,
        expected_sha256: str | None = None,
        progress: upload.ProgressCallback | None = None,
    ) -> Submitted:
        """Validate ``spec``, upload ``jar`` (or reuse the cached upload) and submit it
        with ``submit_at``."""
        topology_struct = spec.to_thrift()  # validates first: nothing is sent if invalid
        conf = spec.conf_json()
        key, jar_upload = await self._upload(jar, expected_sha256, progress, True)
        try:
            summary = await submit_at(jar_upload.location, topology_struct, conf)
        except errors.ApplicationError:
            # Java Nimbus reports a missing or expired upload as a TApplicationException.
            if not jar_upload.cached or key is None:
                raise
            self.cache.invalidate(key, jar_upload.sha256)
            _, jar_upload = await self._upload(jar, expected_sha256, progress, True)
            summary = await submit_at(jar_upload.location, topology_struct, conf)
        return Submitted(summary, jar_upload)
