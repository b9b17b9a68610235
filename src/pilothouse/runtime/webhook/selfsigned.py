"""A self-managed CA and serving certificate for the webhook server, renewed before expiry.

What a local run needs (``WebhookServer`` uses it when given no certificates) and what an
operator without cert-manager can run in a cluster: the serving certificate carries the
given DNS names and IP addresses (``127.0.0.1``, ``localhost``, the Service's names), and
:attr:`SelfSignedCertificates.ca_pem` is the ``caBundle`` to publish (:mod:`.registration`).

Renewal rule, for the serving certificate and the CA alike: due once ``renew_fraction``
(2/3) of the lifetime has passed, or ``renew_before`` ahead of ``notAfter`` if that comes
first. A serving certificate is replaced in the live SSL context (see :mod:`.certs`).

The CA is renewed in two steps, so a client that has the published bundle never meets a
certificate it cannot verify:

1. when the CA is due, a *next* CA is created and added to :attr:`~SelfSignedCertificates.ca_pem`
   (current + next), and the ``on_rotate`` callbacks fire so the bundle can be published
   again (:func:`~.registration.republish_on_rotation`); the serving certificate still
   comes from the current CA;
2. at the serving certificate's next renewal the next CA takes over and signs it;
   ``ca_pem`` keeps the previous CA until that expires.

The bundle thus has one serving-certificate period (weeks by default) to reach the API
server. Only a CA already expired when checked (a process asleep for years) is replaced in
one step.

With ``ca_dir`` the current CA is kept on disk (``ca.crt``/``ca.key``), so the published
bundle survives restarts; an expired CA found there is replaced.

Time: certificates are always issued in real time (TLS peers check them against their own
clocks), but renewal is decided on the injected ``clock``. Each certificate is read in the
clock's frame, shifted by the clock's offset from real time when it was issued or loaded:
zero with the real clock; with a fake clock moved 60 days ahead, a certificate issued now
counts as issued on day 60. A CA loaded from ``ca_dir`` was not issued now: its dates are
read as they are. Tests thus move a fake clock and call
:meth:`~SelfSignedCertificates.rotate_if_due` (or inject ``sleep``) instead of waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from pilothouse import pki
from pilothouse.runtime.webhook.certs import (
    Clock,
    Periodic,
    Sleep,
    load_pem_chain,
    renewal_time,
    server_context,
    utc_now,
)

log = logging.getLogger(__name__)

#: Default validity of self-issued serving certificates.
SERVING_VALIDITY = dt.timedelta(days=90)
CA_COMMON_NAME = "pilothouse-webhook-ca"


@dataclass(frozen=True)
class _Held:
    """A certificate, read in the clock's frame (``shift``: clock minus real time)."""

    cert: x509.Certificate
    shift: dt.timedelta

    def renew_at(self, fraction: float, margin: dt.timedelta | None) -> dt.datetime:
        return renewal_time(self.cert, fraction=fraction, margin=margin) + self.shift

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc + self.shift


@dataclass(frozen=True)
class _CA:
    authority: pki.CertificateAuthority
    held: _Held


class SelfSignedCertificates:
    """A self-managed CA and serving certificate for ``hosts``, renewed before expiry."""

    def __init__(
        self,
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        *,
        ca_dir: str | os.PathLike[str] | None = None,
        validity: dt.timedelta = SERVING_VALIDITY,
        ca_validity: dt.timedelta = pki.CA_VALIDITY,
        renew_fraction: float = 2 / 3,
        renew_before: dt.timedelta | None = None,
        check_interval: float = 60.0,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        key_type: pki.KeyType = "ec",
    ) -> None:
        if not hosts:
            raise ValueError("a serving certificate needs at least one host")
        if not 0 < renew_fraction < 1:
            raise ValueError("renew_fraction must be between 0 and 1")
        self.hosts = tuple(hosts)
        self._ca_dir = Path(ca_dir) if ca_dir is not None else None
        self._validity = validity
        self._ca_validity = ca_validity
        self._fraction = renew_fraction
        self._margin = renew_before
        self._check_interval = check_interval
        self._clock = clock
        self._key_type: pki.KeyType = key_type
        self._ctx = server_context()
        self._current: _CA | None = None
        self._next: _CA | None = None
        self._previous: _CA | None = None
        self._serving: _Held | None = None
        self._cert_pem = b""
        self._periodic = Periodic("webhook-certificate-rotation", sleep)
        #: Called after every change: a new serving certificate or a new CA bundle.
        self.on_rotate: list[Callable[[], object]] = []
        #: How many serving certificates were issued.
        self.rotations = 0

    # -- state -------------------------------------------------------------------------

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return self._ctx

    @property
    def loaded(self) -> bool:
        return self._serving is not None

    @property
    def ca(self) -> pki.CertificateAuthority:
        """The CA signing the serving certificate (loaded or created on first use)."""
        return self._ca().authority

    @property
    def ca_pem(self) -> bytes:
        """The bundle to publish: the current CA, the next one once created, and the
        previous one until it expires."""
        pem = self._ca().authority.cert_pem
        if self._next is not None:
            pem += self._next.authority.cert_pem
        prev = self._previous
        if prev is not None and prev.held.not_after > self._clock():
            pem += prev.authority.cert_pem
        return pem

    @property
    def cert_pem(self) -> bytes:
        return self._cert_pem

    @property
    def not_after(self) -> dt.datetime | None:
        """When the serving certificate expires, in the clock's frame."""
        return self._serving.not_after if self._serving is not None else None

    @property
    def renew_at(self) -> dt.datetime | None:
        """When something is next due: the serving certificate, or the CA (until its
        successor exists)."""
        if self._serving is None:
            return None
        at = self._serving.renew_at(self._fraction, self._margin)
        if self._next is None:
            at = min(at, self._ca().held.renew_at(self._fraction, self._margin))
        return at

    def _hold(self, cert: x509.Certificate) -> _Held:
        """A certificate issued just now, in the clock's frame."""
        return _Held(cert, self._clock() - utc_now())

    def _ca(self) -> _CA:
        if self._current is None:
            self._current = self._load_ca()
        return self._current

    def _load_ca(self) -> _CA:
        d = self._ca_dir
        if d is not None and (d / pki.CA_CERT_FILE).exists() and (d / pki.CA_KEY_FILE).exists():
            authority = pki.CertificateAuthority.load(d)
            # Not issued now: its dates are absolute, read without shift.
            ca = _CA(authority, _Held(authority.cert, dt.timedelta(0)))
            if ca.held.not_after > self._clock():
                return ca
            log.warning("the webhook CA in %s has expired; creating a new one", d)
        ca = self._new_ca()
        self._save(ca)
        return ca

    def _new_ca(self) -> _CA:
        authority = pki.CertificateAuthority.generate(
            CA_COMMON_NAME, self._key_type, self._ca_validity
        )
        return _CA(authority, self._hold(authority.cert))

    def _save(self, ca: _CA) -> None:
        if self._ca_dir is not None:
            ca.authority.save(self._ca_dir)

    def _notify(self) -> None:
        for callback in list(self.on_rotate):
            try:
                callback()
            except Exception:
                log.exception("certificate rotation callback failed")

    # -- rotation ----------------------------------------------------------------------

    def rotate(self) -> None:
        """Issue a new serving certificate now, from the next CA if one was prepared."""
        self._issue(switch_ca=True)

    def _issue(self, *, switch_ca: bool) -> None:
        current = self._ca()
        if current.held.not_after <= self._clock():
            switch_ca = True
            if self._next is None:
                self._next = self._new_ca()
        if switch_ca and self._next is not None:
            self._previous, self._current, self._next = current, self._next, None
            self._save(self._current)
            log.info("webhook CA switched to its successor")
        cert_pem, key_pem = pki.issue_server_cert(
            self.ca,
            self.hosts,
            self._validity,
            common_name="pilothouse-webhook",
            key_type=self._key_type,
        )
        load_pem_chain(self._ctx, cert_pem, key_pem)
        self._serving = self._hold(x509.load_pem_x509_certificate(cert_pem))
        self._cert_pem = cert_pem
        self.rotations += 1
        log.info("webhook serving certificate issued, valid until %s", self.not_after)
        self._notify()

    def rotate_if_due(self) -> bool:
        """Do whatever is due (nothing loaded yet, a CA to prepare, a serving certificate
        to renew); whether anything changed."""
        if self._serving is None:
            self._issue(switch_ca=True)
            return True
        now = self._clock()
        prepared = False
        if self._next is None and now >= self._ca().held.renew_at(self._fraction, self._margin):
            self._next = self._new_ca()
            prepared = True
            log.info("webhook CA due for renewal: its successor joins the CA bundle")
        if now >= self._serving.renew_at(self._fraction, self._margin):
            # A CA prepared just now waits for the next renewal: the bundle must spread first.
            self._issue(switch_ca=not prepared)
            return True
        if prepared:
            self._notify()
        return prepared

    def _next_delay(self) -> float:
        renew_at = self.renew_at
        if renew_at is None:
            return 0.0
        # Capped, so a clock that jumps (suspend, NTP) is noticed within an interval.
        return min(self._check_interval, (renew_at - self._clock()).total_seconds())

    async def start(self) -> None:
        if not self.loaded:
            self._issue(switch_ca=True)
        self._periodic.start(self._next_delay, self.rotate_if_due)

    async def stop(self) -> None:
        await self._periodic.stop()
