"""Calling one webhook: POSTing the ``AdmissionReview`` over verified HTTPS and reading the
answer, with failures (:class:`~.errors.CallError`) worded like Go's.

Behaviour carried over from kube-apiserver:

* The request URL carries ``?timeout=<n>s`` like the real client (default 10s, at most 30s),
  and call errors read like Go's (``Post "<url>": context deadline exceeded``, ``x509:
  certificate signed by unknown authority``, ``dial tcp ...: connect: connection refused``).
* Dry-run requests only go to webhooks whose ``sideEffects`` are ``None``/``NoneOnDryRun``.

Pilothouse specifics: ``clientConfig.service`` cannot be routed (there is no cluster network),
so a ``service_resolver(namespace, name, port)`` returns the base URL (``https://host:port``)
to dial; TLS is still verified against ``<name>.<namespace>.svc`` as the real server does.
One ``aiohttp`` session and one SSL context per CA bundle are kept for the client's life.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from pilothouse.api.validation import go_quote
from pilothouse.apiserver.admission.attributes import Attributes, Hook
from pilothouse.apiserver.admission.errors import CallError
from pilothouse.apiserver.admission.review import (
    REVIEW_API_VERSION,
    admission_request,
    verify_response,
)
from pilothouse.apiserver.errors import bad_request
from pilothouse.pki import ssl_client_context

ServiceResolver = Callable[[str, str, int], str | None]


_DEFAULT_TIMEOUT = 10
_MAX_TIMEOUT = 30
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


def _describe_connection_error(e: aiohttp.ClientError, tls_host: str) -> str:
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


def _describe_http_error(status: int, body: bytes) -> str:
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
class _Target:
    url: str  # as the real server names it (with the service's DNS name for services)
    connect_url: str  # where to connect: differs from url for resolved services
    server_hostname: str | None  # name TLS verifies, for resolved services


class WebhookClient:
    """POSTs AdmissionReviews to webhooks; owns the HTTP session and the TLS contexts."""

    def __init__(self, service_resolver: ServiceResolver | None = None) -> None:
        self._resolve_service = service_resolver or no_service_resolver
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[str, ssl.SSLContext] = {}

    async def close(self) -> None:
        """Close the HTTP session; the client may still be used (it opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _target(self, hook: Hook, config: Mapping[str, Any], query: str) -> _Target:
        if config.get("url"):
            url = str(config["url"]) + query
            return _Target(url, url, None)
        service = config.get("service")
        if not service:
            raise CallError(
                hook.name, "could not get REST client: webhook clientConfig was missing"
            )
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
            raise CallError(hook.name, f"failed to call webhook: Post {go_quote(url)}: {e}") from e
        return _Target(url, base.rstrip("/") + path + query, host)

    def _ssl_context(self, hook: Hook, ca_bundle: str) -> ssl.SSLContext:
        ctx = self._ssl.get(ca_bundle)
        if ctx is None:
            try:
                pem = base64.b64decode(ca_bundle, validate=True) if ca_bundle else None
                ctx = ssl_client_context(pem)
            except (binascii.Error, ssl.SSLError, ValueError) as e:
                raise CallError(
                    hook.name,
                    "could not get REST client: unable to load root certificates: "
                    f"unable to parse bytes as PEM block ({e})",
                ) from e
            self._ssl[ca_bundle] = ctx
        return ctx

    async def call(self, hook: Hook, attrs: Attributes, mutating: bool) -> Mapping[str, Any]:
        """POST one AdmissionReview; returns the verified response or raises."""
        spec = hook.spec
        if attrs.dry_run:
            side_effects = spec.get("sideEffects")
            if side_effects is None:
                raise CallError(hook.name, "Webhook SideEffects is nil")
            if side_effects not in ("None", "NoneOnDryRun"):
                raise bad_request(
                    f"admission webhook {go_quote(hook.name)} does not support dry run"
                )
        if "v1" not in (spec.get("admissionReviewVersions") or ["v1"]):
            raise CallError(
                hook.name,
                "could not create admission objects: webhook does not accept known "
                "AdmissionReview versions (v1)",
            )
        timeout = max(1, min(int(spec.get("timeoutSeconds") or _DEFAULT_TIMEOUT), _MAX_TIMEOUT))
        # The real client appends the timeout; webhook URLs may not carry a query of their own.
        query = f"?timeout={timeout}s"
        config = hook.spec.get("clientConfig") or {}
        ctx = self._ssl_context(hook, str(config.get("caBundle") or ""))
        target = self._target(hook, config, query)
        uid = str(uuid.uuid4())
        body = orjson.dumps(
            {
                "apiVersion": REVIEW_API_VERSION,
                "kind": "AdmissionReview",
                "request": admission_request(attrs, uid),
            }
        )
        if self._session is None:
            self._session = aiohttp.ClientSession()
        post_error = f"failed to call webhook: Post {go_quote(target.url)}"
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
                payload = await resp.read()
                status = resp.status
        except TimeoutError as e:
            raise CallError(hook.name, f"{post_error}: context deadline exceeded") from e
        except aiohttp.ClientError as e:
            tls_host = target.server_hostname or str(URL(target.url).host)
            detail = _describe_connection_error(e, tls_host)
            raise CallError(hook.name, f"{post_error}: {detail}") from e
        if not 200 <= status < 300:
            detail = _describe_http_error(status, payload)
            raise CallError(hook.name, f"failed to call webhook: {detail}")
        try:
            review = orjson.loads(payload)
        except orjson.JSONDecodeError as e:
            raise CallError(
                hook.name,
                f"failed to call webhook: couldn't get version/kind; json parse error: {e}",
            ) from e
        try:
            return verify_response(review, uid, mutating)
        except ValueError as e:
            raise CallError(hook.name, f"received invalid webhook response: {e}") from e
