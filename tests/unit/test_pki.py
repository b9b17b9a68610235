"""Tests for pilothouse.pki: CA generation and persistence, issued certificates, TLS contexts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pilothouse.pki import (
    CertificateAuthority,
    cert_expiry,
    cert_subject,
    issue_client_cert,
    issue_server_cert,
    ssl_client_context,
    ssl_server_context,
)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.generate("pilothouse-ca")


@pytest.mark.parametrize(
    ("key_type", "key_class"), [("ec", ec.EllipticCurvePrivateKey), ("rsa", rsa.RSAPrivateKey)]
)
def test_generate_ca(key_type: str, key_class: type) -> None:
    ca = CertificateAuthority.generate("test-ca", key_type)  # type: ignore[arg-type]
    assert isinstance(ca.key, key_class)
    cert = ca.cert
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "test-ca"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=3649) < lifetime <= dt.timedelta(days=3650)
    if key_type == "rsa":
        assert isinstance(ca.key, rsa.RSAPrivateKey) and ca.key.key_size == 2048


def test_generate_rejects_unknown_key_type() -> None:
    with pytest.raises(ValueError, match="unsupported key type"):
        CertificateAuthority.generate("x", "dsa")  # type: ignore[arg-type]


def test_save_and_load(tmp_path: Path, ca: CertificateAuthority) -> None:
    d = tmp_path / "pki"
    ca.save(d)
    assert stat.S_IMODE((d / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "ca.crt").stat().st_mode) == 0o644
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert (d / "ca.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    loaded = CertificateAuthority.load(d)
    assert loaded.cert == ca.cert
    assert loaded.key_pem == ca.key_pem
    assert sorted(p.name for p in d.iterdir()) == ["ca.crt", "ca.key"]


def test_load_or_generate_is_stable(tmp_path: Path) -> None:
    first = CertificateAuthority.load_or_generate(tmp_path, "c")
    second = CertificateAuthority.load_or_generate(tmp_path, "c")
    assert first.cert == second.cert


def test_from_pem_rejects_mismatched_key(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.generate("other")
    with pytest.raises(ValueError, match="does not match"):
        CertificateAuthority.from_pem(ca.cert_pem, other.key_pem)


def test_server_cert(ca: CertificateAuthority) -> None:
    cert_pem, key_pem = issue_server_cert(
        ca, ["localhost", "127.0.0.1", "::1", "api.example"], dt.timedelta(days=30)
    )
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.issuer == ca.cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "api.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    expiry = cert_expiry(cert_pem)
    assert expiry.tzinfo is not None
    assert dt.timedelta(days=29) < expiry - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert cert_expiry(cert_pem.decode()) == expiry


def test_server_cert_needs_hosts(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="at least one host"):
        issue_server_cert(ca, [])


def test_leaf_never_outlives_ca() -> None:
    short = CertificateAuthority.generate("short", validity=dt.timedelta(days=2))
    cert_pem, _ = issue_server_cert(short, ["localhost"], dt.timedelta(days=365))
    assert cert_expiry(cert_pem) == short.cert.not_valid_after_utc


def test_client_cert(ca: CertificateAuthority) -> None:
    cert_pem, _ = issue_client_cert(ca, "admin", ["system:masters", "devs"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert_subject(cert_pem) == ("admin", ["system:masters", "devs"])


async def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str
) -> bytes | None:
    """Run one TLS handshake over loopback; return the client cert DER the server saw."""
    seen: list[bytes | None] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        obj = writer.get_extra_info("ssl_object")
        seen.append(obj.getpeercert(binary_form=True) if obj else None)
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=server_hostname
        )
        assert await reader.read() == b"ok"
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    return seen[0] if seen else None


async def test_tls_roundtrip_with_client_cert(ca: CertificateAuthority) -> None:
    cert_pem, key_pem = issue_server_cert(ca, ["localhost", "127.0.0.1"])
    client_cert = issue_client_cert(ca, "alice", ["devs"])
    server_ctx = ssl_server_context(cert_pem, key_pem, ca.cert_pem)
    client_ctx = ssl_client_context(ca.cert_pem, client_cert)
    peer = await _handshake(server_ctx, client_ctx, "127.0.0.1")
    assert peer is not None
    assert x509.load_der_x509_certificate(peer) == x509.load_pem_x509_certificate(client_cert[0])


async def test_tls_client_cert_optional(ca: CertificateAuthority) -> None:
    cert_pem, key_pem = issue_server_cert(ca, ["localhost"])
    server_ctx = ssl_server_context(cert_pem, key_pem, ca.cert_pem)
    assert await _handshake(server_ctx, ssl_client_context(ca.cert_pem), "localhost") is None


async def test_tls_rejects_unknown_ca(ca: CertificateAuthority) -> None:
    cert_pem, key_pem = issue_server_cert(ca, ["localhost"])
    other = CertificateAuthority.generate("other")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(
            ssl_server_context(cert_pem, key_pem), ssl_client_context(other.cert_pem), "localhost"
        )


async def test_tls_rejects_wrong_host(ca: CertificateAuthority) -> None:
    cert_pem, key_pem = issue_server_cert(ca, ["localhost"])
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(
            ssl_server_context(cert_pem, key_pem), ssl_client_context(ca.cert_pem), "example.com"
        )


def test_client_context_defaults_to_system_roots() -> None:
    ctx = ssl_client_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
