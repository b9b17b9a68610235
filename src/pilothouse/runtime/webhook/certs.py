"""Serving certificates for the webhook server, kept fresh without restarting it.

:class:`CertificateProvider` is what the server needs; two providers implement it:

* :class:`~.selfsigned.SelfSignedCertificates` -- a CA of its own and a serving certificate,
  renewed before expiry (see :mod:`.selfsigned`);
* :class:`DirectoryCertificates` (here) -- ``tls.crt``/``tls.key`` (and optionally
  ``ca.crt``) from a directory, typically a Secret written by cert-manager and mounted into
  the pod, reloaded when the files change.

Both keep **one live** :class:`ssl.SSLContext` and call ``load_cert_chain`` on it again when
the certificate changes: connections already open keep the certificate they were set up
with, every new handshake gets the new one, and the server never restarts. A new pair is
first loaded into a scratch context (:func:`load_pem_chain`), so a bad or half-written pair
never reaches the live one (OpenSSL would drop the live certificate on a key mismatch).
Caveat: switching the key *type* (EC to RSA) adds a certificate beside the old one instead
of replacing it, since OpenSSL keeps one per key type; restart the server for such a change.

Reload choice for directories: the files' ``(mtime, inode, size)`` are polled every
``poll_interval`` seconds (10 by default, as controller-runtime's certwatcher polls). Polling
works on every filesystem and with the symlink swap kubelet uses to update mounted Secrets
(``stat`` follows the links), needs no inotify dependency, and costs three ``stat`` calls per
interval; the price is a delay of up to one interval, far below how early cert-manager
renews. Checking at handshake time was rejected: it puts file I/O on the TLS hot path.

Time is injectable (``clock``, ``sleep``), so tests drive renewals by moving a fake clock,
or call :meth:`DirectoryCertificates.reload_if_changed` directly, instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from cryptography import x509

from pilothouse import pki

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertificateProvider(Protocol):
    """Where the webhook server's TLS certificate comes from."""

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The live server context; the provider updates it in place."""
        ...

    @property
    def ca_pem(self) -> bytes | None:
        """The CA certificate(s) clients should trust (``caBundle``), if known."""
        ...

    @property
    def loaded(self) -> bool:
        """Whether a certificate is loaded (the server can complete handshakes)."""
        ...

    async def start(self) -> None:
        """Load the first certificate (raising if impossible) and start keeping it fresh."""
        ...

    async def stop(self) -> None: ...


def server_context() -> ssl.SSLContext:
    """A TLS 1.2+ server context without a certificate yet."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def load_pem_chain(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Load a PEM certificate chain and key into ``ctx``, validating them on a scratch
    context first so a mismatched pair leaves ``ctx`` untouched."""
    with tempfile.TemporaryDirectory(prefix="pilothouse-webhook-tls-") as tmp:
        cert_path, key_path = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        pki.write_private(cert_path, cert_pem)
        pki.write_private(key_path, key_pem)
        server_context().load_cert_chain(cert_path, key_path)
        ctx.load_cert_chain(cert_path, key_path)


def renewal_time(
    cert: x509.Certificate,
    *,
    fraction: float = 2 / 3,
    margin: dt.timedelta | None = None,
) -> dt.datetime:
    """When to renew ``cert``: after ``fraction`` of its lifetime, or ``margin`` before it
    expires if that is earlier."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    at = start + (end - start) * fraction
    return min(at, end - margin) if margin is not None else at


class Periodic:
    """A background task calling ``step`` after each delay ``next_delay`` returns; after a
    failed step it waits ``retry_after`` seconds (so a step that keeps failing while due
    does not spin)."""

    def __init__(self, name: str, sleep: Sleep, retry_after: float = 10.0) -> None:
        self._name = name
        self._sleep = sleep
        self._retry_after = retry_after
        self._task: asyncio.Task[None] | None = None

    def start(self, next_delay: Callable[[], float], step: Callable[[], object]) -> None:
        async def loop() -> None:
            while True:
                await self._sleep(max(0.0, next_delay()))
                try:
                    step()
                except Exception:
                    log.exception("%s failed; retrying in %ss", self._name, self._retry_after)
                    await self._sleep(self._retry_after)

        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(loop(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class DirectoryCertificates:
    """A certificate and key read from files, reloaded when they change (see the module
    docstring for the polling choice)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        cert_file: str = "tls.crt",
        key_file: str = "tls.key",
        ca_file: str = "ca.crt",
        poll_interval: float = 10.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.directory = Path(directory)
        self._cert_path = self.directory / cert_file
        self._key_path = self.directory / key_file
        self._ca_path = self.directory / ca_file
        self._poll_interval = poll_interval
        self._ctx = server_context()
        self._stamp: tuple[tuple[int, int, int], ...] | None = None
        self._cert_pem = b""
        self._ca_pem: bytes | None = None
        self._periodic = Periodic("webhook-certificate-reload", sleep)
        #: How many times a certificate was loaded.
        self.reloads = 0

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return self._ctx

    @property
    def loaded(self) -> bool:
        return bool(self._cert_pem)

    @property
    def cert_pem(self) -> bytes:
        return self._cert_pem

    @property
    def ca_pem(self) -> bytes | None:
        """``ca.crt`` when the directory has one (cert-manager writes it)."""
        return self._ca_pem

    def _stat(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for path in (self._cert_path, self._key_path, self._ca_path):
            try:
                st = path.stat()
            except FileNotFoundError:
                stamps.append((0, 0, 0))
                continue
            stamps.append((st.st_mtime_ns, st.st_ino, st.st_size))
        return tuple(stamps)

    def load(self) -> None:
        """Load the files now; raises (leaving the previous certificate) if they are
        missing or do not form a valid pair."""
        stamp = self._stat()
        cert_pem = self._cert_path.read_bytes()
        key_pem = self._key_path.read_bytes()
        load_pem_chain(self._ctx, cert_pem, key_pem)
        self._cert_pem = cert_pem
        self._ca_pem = self._ca_path.read_bytes() if self._ca_path.exists() else None
        self._stamp = stamp
        self.reloads += 1
        log.info("webhook serving certificate loaded from %s", self.directory)

    def reload_if_changed(self) -> bool:
        """Reload if the files changed since the last load; whether it did. A failed
        reload (say, a pair caught half-written) is logged and retried at the next call."""
        if self._stat() == self._stamp:
            return False
        try:
            self.load()
        except (OSError, ssl.SSLError, ValueError) as e:
            log.warning("cannot reload the webhook certificate from %s: %s", self.directory, e)
            return False
        return True

    async def start(self) -> None:
        if not self.loaded:
            self.load()
        self._periodic.start(lambda: self._poll_interval, self.reload_if_changed)

    async def stop(self) -> None:
        await self._periodic.stop()
