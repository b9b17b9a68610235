"""Self-signed certificates on a controllable clock: renewal schedule, margins, the two-step
CA renewal, persistence, and the live context serving renewed certificates."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from cryptography import x509
from webhook_tls_probe import peer_certificate, serve

from pilothouse import pki
from pilothouse.runtime.webhook.selfsigned import SelfSignedCertificates

DAY = dt.timedelta(days=1)


class FakeTime:
    """A clock the test moves, and a sleep that waits until the test lets it finish."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)
        self.sleeping: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()
        self._pending: asyncio.Future[None] | None = None

    def clock(self) -> dt.datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        done = asyncio.get_running_loop().create_future()
        await self.sleeping.put((seconds, done))
        await done

    async def next_sleep(self) -> float:
        seconds, self._pending = await asyncio.wait_for(self.sleeping.get(), 5)
        return seconds

    def wake(self, advance: float) -> None:
        assert self._pending is not None
        self.now += dt.timedelta(seconds=advance)
        self._pending.set_result(None)


def cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


async def test_webhook_self_signed_rotates_on_schedule() -> None:
    time = FakeTime()
    certs = SelfSignedCertificates(
        ["127.0.0.1", "localhost", "hooks.system.svc"],
        validity=90 * DAY,
        check_interval=(7 * DAY).total_seconds(),
        clock=time.clock,
        sleep=time.sleep,
    )
    rotated: list[bytes] = []
    certs.on_rotate.append(lambda: rotated.append(certs.cert_pem))
    assert not certs.loaded
    await certs.start()
    try:
        assert certs.loaded and certs.rotations == 1
        first_pem = certs.cert_pem
        first = cert(first_pem)
        sans = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["localhost", "hooks.system.svc"]
        lifetime = first.not_valid_after_utc - first.not_valid_before_utc
        assert certs.renew_at is not None
        assert abs(certs.renew_at - (first.not_valid_before_utc + lifetime * 2 / 3)) < DAY / 24

        server = await serve(certs.ssl_context)
        try:
            assert (await peer_certificate(server, certs.ca_pem)) == first
            # Weekly checks until 2/3 of the lifetime (60 days) has passed.
            slept = 0.0
            while certs.rotations == 1:
                seconds = await time.next_sleep()
                assert seconds <= (7 * DAY).total_seconds()
                slept += seconds
                time.wake(seconds)
                await asyncio.sleep(0)
            assert 59 * DAY < dt.timedelta(seconds=slept) < 61 * DAY
            second = cert(certs.cert_pem)
            assert second.serial_number != first.serial_number
            assert rotated == [first_pem, certs.cert_pem]
            # Read in the clock's frame: the new certificate is due 60 days from now.
            assert certs.renew_at is not None
            assert abs(certs.renew_at - (time.now + 60 * DAY)) < DAY / 24
            # The same live context: new handshakes get the new certificate.
            assert (await peer_certificate(server, certs.ca_pem)) == second
        finally:
            server.close()
            await server.wait_closed()
    finally:
        await certs.stop()


def test_webhook_self_signed_rotate_if_due_and_margin() -> None:
    time = FakeTime()
    certs = SelfSignedCertificates(validity=30 * DAY, renew_before=20 * DAY, clock=time.clock)
    assert certs.rotate_if_due() and certs.rotations == 1  # nothing loaded yet
    assert not certs.rotate_if_due()
    # The margin (20 days before expiry) comes before 2/3 of 30 days.
    time.now += 9 * DAY
    assert not certs.rotate_if_due()
    time.now += DAY + dt.timedelta(minutes=6)
    assert certs.rotate_if_due() and certs.rotations == 2
    assert not certs.rotate_if_due()


def test_webhook_self_signed_ca_renews_in_two_steps(tmp_path: Path) -> None:
    time = FakeTime()
    t0 = time.now
    certs = SelfSignedCertificates(
        ca_dir=tmp_path, validity=9 * DAY, ca_validity=30 * DAY, clock=time.clock
    )
    bundles: list[bytes] = []
    certs.on_rotate.append(lambda: bundles.append(certs.ca_pem))
    assert certs.rotate_if_due()
    ca0 = certs.ca
    # Serving certificates are due every 6 days (2/3 of 9); the CA after 20 (2/3 of 30).
    for day in (6, 12, 18):
        time.now = t0 + day * DAY + dt.timedelta(minutes=6)
        assert certs.rotate_if_due()
        assert certs.ca is ca0 and certs.ca_pem == ca0.cert_pem
    assert certs.rotations == 4 and len(bundles) == 4

    # Day 20: the CA is due. Its successor joins the bundle; the certificate does not change.
    time.now = t0 + 20 * DAY + dt.timedelta(minutes=6)
    serving = certs.cert_pem
    assert certs.rotate_if_due()
    assert certs.cert_pem == serving and certs.ca is ca0
    assert certs.ca_pem.startswith(ca0.cert_pem) and certs.ca_pem != ca0.cert_pem
    assert bundles[-1] == certs.ca_pem and certs.rotations == 4
    assert not certs.rotate_if_due()

    # Day 24: the serving certificate is due and comes from the successor, now current.
    time.now = t0 + 24 * DAY + dt.timedelta(minutes=6)
    assert certs.rotate_if_due()
    ca1 = certs.ca
    assert ca1 is not ca0
    cert(certs.cert_pem).verify_directly_issued_by(ca1.cert)
    assert certs.ca_pem == ca1.cert_pem + ca0.cert_pem  # the old CA until it expires
    assert (tmp_path / "ca.crt").read_bytes() == ca1.cert_pem  # persisted when current

    # Past the old CA's expiry only the new one is published.
    time.now = t0 + 31 * DAY
    assert certs.ca_pem == ca1.cert_pem


def test_webhook_self_signed_due_together_defers_the_ca_switch() -> None:
    time = FakeTime()
    certs = SelfSignedCertificates(validity=9 * DAY, ca_validity=30 * DAY, clock=time.clock)
    certs.rotate()
    ca0 = certs.ca
    time.now += 21 * DAY  # both due: the certificate is renewed by the old CA once more
    assert certs.rotate_if_due()
    cert(certs.cert_pem).verify_directly_issued_by(ca0.cert)
    assert certs.ca is ca0 and certs.ca_pem != ca0.cert_pem
    time.now += 7 * DAY
    assert certs.rotate_if_due() and certs.ca is not ca0


def test_webhook_self_signed_ca_survives_restarts(tmp_path: Path) -> None:
    certs = SelfSignedCertificates(ca_dir=tmp_path)
    certs.rotate()
    again = SelfSignedCertificates(ca_dir=tmp_path)
    again.rotate()
    assert again.ca_pem == certs.ca_pem  # the published caBundle stays valid
    cert(again.cert_pem).verify_directly_issued_by(certs.ca.cert)

    # An expired CA on disk is replaced.
    old = pki.CertificateAuthority.generate("old", validity=DAY)
    old.save(tmp_path / "old")
    time = FakeTime()
    time.now += 2 * DAY
    fresh = SelfSignedCertificates(ca_dir=tmp_path / "old", clock=time.clock)
    fresh.rotate()
    assert fresh.ca.cert_pem != old.cert_pem
    assert (tmp_path / "old" / "ca.crt").read_bytes() == fresh.ca.cert_pem
