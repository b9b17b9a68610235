"""Certificates from a directory: reloads on change (including kubelet's symlink swaps), bad
pairs refused, and the live SSL context serving the new certificate to new handshakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from webhook_tls_probe import peer_certificate, serve

from pilothouse import pki
from pilothouse.runtime.webhook.certs import DirectoryCertificates


def write_pair(directory: Path, ca: pki.CertificateAuthority, host: str = "127.0.0.1") -> bytes:
    cert, key = pki.issue_server_cert(ca, [host])
    pki.write_private(directory / "tls.key", key)
    pki.write_private(directory / "tls.crt", cert)
    pki.write_private(directory / "ca.crt", ca.cert_pem)
    return cert


async def test_webhook_directory_reloads_changed_files(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.generate("cert-manager")
    first = write_pair(tmp_path, ca)
    certs = DirectoryCertificates(tmp_path, poll_interval=3600)
    await certs.start()
    try:
        assert certs.loaded and certs.cert_pem == first and certs.ca_pem == ca.cert_pem
        server = await serve(certs.ssl_context)
        try:
            assert not certs.reload_if_changed()
            second = write_pair(tmp_path, ca)
            assert certs.reload_if_changed() and certs.cert_pem == second
            shown = await peer_certificate(server, ca.cert_pem)
            assert shown == x509.load_pem_x509_certificate(second)
            # A half-written pair (new certificate, old key) is refused; the old one stays.
            other, _ = pki.issue_server_cert(ca, ["127.0.0.1"])
            pki.write_private(tmp_path / "tls.crt", other)
            assert not certs.reload_if_changed()
            assert certs.cert_pem == second
            assert (await peer_certificate(server, ca.cert_pem)) == shown
        finally:
            server.close()
            await server.wait_closed()
    finally:
        await certs.stop()


def test_webhook_directory_follows_secret_symlink_swaps(tmp_path: Path) -> None:
    """kubelet updates a mounted Secret by re-pointing ``..data`` at a new directory."""
    ca = pki.CertificateAuthority.generate("cert-manager")
    for version in ("..v1", "..v2"):
        (tmp_path / version).mkdir()
    first = write_pair(tmp_path / "..v1", ca)
    second = write_pair(tmp_path / "..v2", ca)
    os.symlink("..v1", tmp_path / "..data")
    for name in ("tls.crt", "tls.key", "ca.crt"):
        os.symlink(f"..data/{name}", tmp_path / name)
    certs = DirectoryCertificates(tmp_path)
    certs.load()
    assert certs.cert_pem == first
    os.symlink("..v2", tmp_path / "..data.tmp")
    os.replace(tmp_path / "..data.tmp", tmp_path / "..data")
    assert certs.reload_if_changed() and certs.cert_pem == second


async def test_webhook_directory_start_fails_without_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await DirectoryCertificates(tmp_path).start()
