"""A small PKI: a self-signed certificate authority and the certificates it issues.

Used by the embedded API server (serving certificate, client certificates for kubeconfigs)
and by the operator runtime's webhook server, so it depends on nothing else in pilothouse.

Design choices:

* Keys are EC P-256 by default (fast to generate, small, accepted by every TLS stack we
  talk to); RSA 2048 is available for clients that insist on it.
* Certificates follow what kubeadm/client-go issue: the CA has ``basicConstraints CA:TRUE``
  and ``keyCertSign``; leaves carry ``serverAuth`` or ``clientAuth`` extended key usage,
  subject/authority key identifiers, and SANs split into DNS names and IP addresses.
  Client certificates put the user name in CN and the groups in O, which is how
  kube-apiserver's x509 authenticator reads them.
* ``notBefore`` is backdated by five minutes so a certificate issued on one machine is not
  rejected as "not yet valid" by a peer whose clock is slightly behind.
* PEM travels as ``bytes`` everywhere; functions accept ``str`` too for convenience.
* :mod:`ssl` can only load a certificate chain from files, so :func:`ssl_server_context`
  writes the pair into a private (0700) temporary directory for the duration of the load.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"

#: Validity of a generated CA (ten years, as kubeadm).
CA_VALIDITY = dt.timedelta(days=3650)
#: Default validity of issued leaf certificates (one year, as kubeadm).
LEAF_VALIDITY = dt.timedelta(days=365)
_CLOCK_SKEW = dt.timedelta(minutes=5)


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported key type {key_type!r}: expected 'ec' or 'rsa'")


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(pem: bytes | str) -> PrivateKey:
    key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with ``mode``, never world-readable meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @classmethod
    def generate(
        cls,
        common_name: str,
        key_type: KeyType = "ec",
        validity: dt.timedelta = CA_VALIDITY,
    ) -> CertificateAuthority:
        key = _new_key(key_type)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def from_pem(cls, cert_pem: bytes | str, key_pem: bytes | str) -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate(_as_bytes(cert_pem))
        key = _load_key(key_pem)
        if cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ValueError("CA private key does not match the CA certificate")
        return cls(cert, key)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> CertificateAuthority:
        """Read ``ca.crt`` and ``ca.key`` from ``directory``."""
        d = Path(directory)
        return cls.from_pem((d / CA_CERT_FILE).read_bytes(), (d / CA_KEY_FILE).read_bytes())

    @classmethod
    def load_or_generate(
        cls, directory: str | os.PathLike[str], common_name: str, key_type: KeyType = "ec"
    ) -> CertificateAuthority:
        """Load the CA from ``directory``, generating and saving a new one if absent."""
        d = Path(directory)
        if (d / CA_CERT_FILE).exists() and (d / CA_KEY_FILE).exists():
            return cls.load(d)
        ca = cls.generate(common_name, key_type)
        ca.save(d)
        return ca

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``ca.crt`` (0644) and ``ca.key`` (0600), creating ``directory`` as 0700."""
        d = Path(directory)
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Key first: a crash in between leaves a key without a certificate, which
        # load_or_generate treats as "absent" and regenerates, never the reverse.
        write_private(d / CA_KEY_FILE, self.key_pem, 0o600)
        write_private(d / CA_CERT_FILE, self.cert_pem, 0o644)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)


def _split_hosts(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _issue(
    ca: CertificateAuthority,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    validity: dt.timedelta,
    key_type: KeyType,
) -> tuple[bytes, bytes]:
    key = _new_key(key_type)
    now = _now()
    # A leaf must not outlive its issuer: verifiers reject such chains.
    not_after = min(now + validity, ca.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA key exchange needs keyEncipherment; EC keys never encipher.
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_server_cert(
    ca: CertificateAuthority,
    hosts: Sequence[str],
    validity: dt.timedelta = LEAF_VALIDITY,
    *,
    common_name: str | None = None,
    key_type: KeyType = "ec",
) -> tuple[bytes, bytes]:
    """Issue a serving certificate for ``hosts`` (DNS names and IP addresses).

    Returns ``(cert_pem, key_pem)``. The CN defaults to the first host; clients verify
    against the SANs only, so the CN is informational.
    """
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    cn = common_name or hosts[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return _issue(
        ca, subject, ExtendedKeyUsageOID.SERVER_AUTH, _split_hosts(hosts), validity, key_type
    )


def issue_client_cert(
    ca: CertificateAuthority,
    common_name: str,
    organizations: Sequence[str] = (),
    validity: dt.timedelta = LEAF_VALIDITY,
    *,
    key_type: KeyType = "ec",
) -> tuple[bytes, bytes]:
    """Issue a client certificate: CN is the user name, each O a group (as kube-apiserver)."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return _issue(ca, x509.Name(attrs), ExtendedKeyUsageOID.CLIENT_AUTH, [], validity, key_type)


def cert_expiry(pem: bytes | str) -> dt.datetime:
    """``notAfter`` of the first certificate in ``pem``, as an aware UTC datetime."""
    return x509.load_pem_x509_certificate(_as_bytes(pem)).not_valid_after_utc


def cert_subject(pem: bytes | str) -> tuple[str, list[str]]:
    """``(common name, organizations)`` of a certificate: the user and groups it stands for."""
    cert = x509.load_pem_x509_certificate(_as_bytes(pem))
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    cn = str(cns[0].value) if cns else ""
    return cn, [str(o.value) for o in orgs]


def _load_chain(ctx: ssl.SSLContext, cert_pem: bytes | str, key_pem: bytes | str) -> None:
    with tempfile.TemporaryDirectory(prefix="pilothouse-tls-") as tmp:
        cert_path = Path(tmp) / "tls.crt"
        key_path = Path(tmp) / "tls.key"
        write_private(cert_path, _as_bytes(cert_pem), 0o600)
        write_private(key_path, _as_bytes(key_pem), 0o600)
        ctx.load_cert_chain(cert_path, key_path)


def ssl_server_context(
    cert_pem: bytes | str,
    key_pem: bytes | str,
    client_ca_pem: bytes | str | None = None,
    *,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving ``cert_pem``.

    With ``client_ca_pem`` the server asks for client certificates signed by that CA;
    they are optional (bearer tokens remain usable) unless ``require_client_cert``.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, cert_pem, key_pem)
    if client_ca_pem is not None:
        ctx.load_verify_locations(cadata=_as_bytes(client_ca_pem).decode())
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def ssl_client_context(
    ca_pem: bytes | str | None = None,
    client_cert: tuple[bytes | str, bytes | str] | None = None,
) -> ssl.SSLContext:
    """A verifying TLS client context.

    Trusts only ``ca_pem`` when given, else the system roots; presents ``client_cert``
    (``(cert_pem, key_pem)``) when given. Host names are always checked.
    """
    if ca_pem is not None:
        ctx = ssl.create_default_context(cadata=_as_bytes(ca_pem).decode())
    else:
        ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        _load_chain(ctx, client_cert[0], client_cert[1])
    return ctx
