"""Calling a webhook over HTTPS, as kube-apiserver's webhook client does: where to connect
(``clientConfig.url``, or a Service through a resolver), TLS verified against the
``caBundle``, one POST with a deadline, and failures described in kube-apiserver's words.

Admission (:mod:`pilothouse.apiserver.admission.calls`) and CRD conversion
(:mod:`pilothouse.apiserver.conversionwebhook`) both call webhooks through
:class:`WebhookTransport` and wrap its :class:`TransportError` messages in their own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from pilothouse.api.validation import go_quote
from pilothouse.pki import ssl_client_context


class TransportError(Exception):
    """The webhook could not be called; the message is kube-apiserver's wording."""


class MissingClientConfig(TransportError):
    """Neither ``url`` nor ``service`` is set."""


class UnresolvedService(TransportError):
    """A ``service`` reference that the resolver cannot route."""


ServiceResolver = Callable[[str, str, int], str | None]


# Go's x509 wording for the OpenSSL verification failures (X509_V_ERR_*) webhooks cause.
_X509_MESSAGES = {
    **dict.fromkeys((9, 10), "x509: certificate has expired or is not yet valid"),
    **dict.fromkeys((18, 19, 20, 21), "x509: certificate signed by unknown authority"),
}
# client-go's messages for non-2xx answers whose body is not a Status.
_HTTP_MESSAGES = {
    400: "the server rejected our request for an unknown reason",
    401: "the server has asked for the client to provide credentials",
    403: "the server does not allow access to the requested resource",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    413: "the server has rejected the request because the request entity is too large",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: (
        "the server was unable to return a response in the time allotted, "
        "but may still be processing the request"
    ),
}


def no_service_resolver(namespace: str, name: str, port: int) -> str | None:
    """The default resolver: service references cannot be routed without one."""
    raise LookupError(
        f"cannot route to service {namespace}/{name}:{port}: the embedded API server has no "
        "cluster network; use clientConfig.url or configure a service resolver"
    )


def describe_connection_error(e: aiohttp.ClientError, tls_host: str) -> str:
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        cert_error = e.certificate_error
        code = getattr(cert_error, "verify_code", None)
        if code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
            return (
                f"tls: failed to verify certificate: x509: certificate is not valid for {tls_host}"
            )
        detail = _X509_MESSAGES.get(code or 0) or getattr(cert_error, "verify_message", "")
        return f"tls: failed to verify certificate: {detail or cert_error}"
    if isinstance(e, aiohttp.ClientSSLError):
        return f"remote error: tls: {e.os_error}"
    if isinstance(e, aiohttp.ClientConnectorError):
        address = f"{e.host}:{e.port}"
        os_error = e.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return f"dial tcp {address}: connect: connection refused"
        if isinstance(os_error, socket.gaierror):
            return f"dial tcp: lookup {e.host}: no such host"
        return f"dial tcp {address}: {os_error.strerror or os_error}"
    return str(e) or type(e).__name__


def describe_http_error(status: int, body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, Mapping) and doc.get("kind") == "Status" and doc.get("message"):
        return str(doc["message"])
    if status in _HTTP_MESSAGES:
        return _HTTP_MESSAGES[status]
    text = body.decode(errors="replace").strip()
    return f"an error on the server ({go_quote(text)}) has prevented the request from succeeding"


@dataclass(frozen=True)
class Target:
    url: str  # as the real server names it (with the service's DNS name for services)
    connect_url: str  # where to connect: differs from url for resolved services
    server_hostname: str | None  # name TLS verifies, for resolved services


class WebhookTransport:
    """An HTTP session and TLS contexts (one per CA bundle) on one event loop."""

    def __init__(self, service_resolver: ServiceResolver | None = None) -> None:
        self._resolve_service = service_resolver or no_service_resolver
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[str, ssl.SSLContext] = {}

    async def close(self) -> None:
        """Close the HTTP session; the transport may still be used (it opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def ssl_context(self, ca_bundle: str) -> ssl.SSLContext:
        ctx = self._ssl.get(ca_bundle)
        if ctx is None:
            try:
                pem = base64.b64decode(ca_bundle, validate=True) if ca_bundle else None
                ctx = ssl_client_context(pem)
            except (binascii.Error, ssl.SSLError, ValueError) as e:
                raise TransportError(
                    f"unable to load root certificates: unable to parse bytes as PEM block ({e})"
                ) from e
            self._ssl[ca_bundle] = ctx
        return ctx

    def target(self, config: Mapping[str, Any], query: str) -> Target:
        """Where ``config`` (a ``clientConfig``) points, with ``query`` appended."""
        if config.get("url"):
            url = str(config["url"]) + query
            return Target(url, url, None)
        service = config.get("service")
        if not service:
            raise MissingClientConfig("webhook clientConfig was missing")
        namespace, name = str(service.get("namespace", "")), str(service.get("name", ""))
        port = int(service.get("port") or 443)
        path = str(service.get("path") or "")
        host = f"{name}.{namespace}.svc"
        url = f"https://{host}:{port}{path}{query}"
        try:
            base = self._resolve_service(namespace, name, port)
            if base is None:
                raise LookupError(f"no endpoints available for service {go_quote(name)}")
        except Exception as e:
            raise UnresolvedService(f"Post {go_quote(url)}: {e}") from e
        return Target(url, base.rstrip("/") + path + query, host)

    async def post(
        self, target: Target, body: bytes, ctx: ssl.SSLContext, timeout: float
    ) -> tuple[int, bytes]:
        """POST ``body``; (status, payload), or :class:`TransportError` when no answer came."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with (
                asyncio.timeout(timeout),
                self._session.post(
                    target.connect_url,
                    data=body,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    ssl=ctx,
                    server_hostname=target.server_hostname,
                ) as resp,
            ):
                return resp.status, await resp.read()
        except TimeoutError as e:
            raise TransportError(f"Post {go_quote(target.url)}: context deadline exceeded") from e
        except aiohttp.ClientError as e:
            tls_host = target.server_hostname or str(URL(target.url).host)
            detail = describe_connection_error(e, tls_host)
            raise TransportError(f"Post {go_quote(target.url)}: {detail}") from e
