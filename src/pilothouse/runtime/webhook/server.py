"""The webhook HTTPS server: routes review requests to registered handlers.

::

    server = WebhookServer("127.0.0.1", 9443, cert_dir="/tmp/k8s-webhook-server/serving-certs")
    server.register("/validate-widgets", ValidatingWebhook(validate))
    server.register("/mutate-widgets", MutatingWebhook(mutate, model=Widget))
    server.register("/convert", ConversionWebhook(registry))
    async with server:
        ...

Certificates: ``cert_dir`` serves ``tls.crt``/``tls.key`` from a directory, reloaded when they
change (:class:`~.certs.DirectoryCertificates`); ``certificates`` takes any
:class:`~.certs.CertificateProvider`; with neither, a self-signed CA and certificate for the
listening host, ``127.0.0.1`` and ``localhost`` are generated and rotated
(:class:`~.selfsigned.SelfSignedCertificates`) -- what a local run against a development cluster
needs (publish :attr:`WebhookServer.ca_pem` as the ``caBundle``).

HTTP behaviour, as controller-runtime's webhook server: only ``POST`` (405 otherwise), an
unregistered path is 404, the body must be ``application/json`` and a review of the kind the
path serves (400 otherwise, with the reason as plain text), at most 7 MiB. A handler's own
failure never reaches HTTP: handlers answer with a denial (see :mod:`.admission`), so 200 is
the answer to every well-formed review. Paths may be registered before or after
:meth:`~WebhookServer.start`.

Readiness: :meth:`WebhookServer.ready` is true once the listener is up and a certificate is
loaded; :meth:`WebhookServer.check_ready` raises :class:`NotReady` with the reason (for a
readiness probe).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry

from pilothouse.runtime.webhook.certs import CertificateProvider, DirectoryCertificates
from pilothouse.runtime.webhook.metrics import WebhookMetrics
from pilothouse.runtime.webhook.review import MalformedReview
from pilothouse.runtime.webhook.selfsigned import SelfSignedCertificates

log = logging.getLogger(__name__)

#: controller-runtime's limit on a review's size (an object and its old version).
MAX_REQUEST_BYTES = 7 * 1024 * 1024


class Handler(Protocol):
    """A webhook: answers a decoded review document (raising ``MalformedReview``)."""

    async def serve(self, document: Any) -> dict[str, Any]: ...


class NotReady(Exception):
    """The server cannot answer webhook calls yet."""


class WebhookServer:
    """An aiohttp HTTPS server dispatching webhook paths to handlers."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9443,
        *,
        cert_dir: str | os.PathLike[str] | None = None,
        certificates: CertificateProvider | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if cert_dir is not None and certificates is not None:
            raise ValueError("give cert_dir or certificates, not both")
        if certificates is None:
            if cert_dir is not None:
                certificates = DirectoryCertificates(cert_dir)
            else:
                hosts = [h for h in (host, "127.0.0.1", "localhost") if h not in ("", "0.0.0.0")]
                certificates = SelfSignedCertificates(list(dict.fromkeys(hosts)))
        self.host = host
        self.port = port
        self.certificates = certificates
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = WebhookMetrics(self.registry)
        self._handlers: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None

    @property
    def paths(self) -> list[str]:
        return list(self._handlers)

    @property
    def ca_pem(self) -> bytes | None:
        """What clients should trust, when the certificate provider knows it."""
        return self.certificates.ca_pem

    def url(self, path: str) -> str:
        """``https://host:port/path`` for the listening address."""
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"https://{host}:{self.port}/{path.lstrip('/')}"

    def register(self, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``path`` (``/validate-...``, ``/mutate-...``, ``/convert``)."""
        if not path.startswith("/"):
            raise ValueError(f"webhook path {path!r} must start with '/'")
        if path in self._handlers:
            raise ValueError(f"webhook path {path!r} is already registered")
        self._handlers[path] = handler

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.certificates.start()
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.certificates.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self.certificates.stop()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("webhook server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            server = runner.server
            transports = [h.transport for h in (server.connections if server else ())]
            await runner.cleanup()
            # A TLS close waits for the peer's close_notify, which idle keep-alive clients
            # (the API server) never send: abort what is left, then let the closing
            # callbacks run so no socket outlives the server.
            for transport in transports:
                if transport is not None:
                    transport.abort()
            for _ in range(3):
                await asyncio.sleep(0)
        await self.certificates.stop()

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def check_ready(self) -> None:
        """Raise :class:`NotReady` unless listening with a certificate loaded."""
        if self._runner is None:
            raise NotReady("webhook server not started")
        if not self.certificates.loaded:
            raise NotReady("webhook serving certificate not loaded")

    def ready(self) -> bool:
        try:
            self.check_ready()
        except NotReady:
            return False
        return True

    # -- requests ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        handler = self._handlers.get(path)
        if handler is None:
            return web.Response(status=404, text=f"no webhook registered at {path}\n")
        metrics = self.metrics
        metrics.in_flight.labels(path).inc()
        started = time.perf_counter()
        try:
            response = await self._answer(handler, request)
        finally:
            metrics.in_flight.labels(path).dec()
            metrics.latency.labels(path).observe(time.perf_counter() - started)
        metrics.requests.labels(path, str(response.status)).inc()
        return response

    async def _answer(self, handler: Handler, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _bad_request(f"contentType={request.content_type}, expected application/json")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(
                status=413, text=f"request body exceeds {MAX_REQUEST_BYTES} bytes\n"
            )
        if not body:
            return _bad_request("request body is empty")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            return _bad_request(f"request body is not JSON: {e}")
        try:
            answer = await handler.serve(document)
        except MalformedReview as e:
            return _bad_request(str(e))
        except Exception:
            log.exception("webhook %s failed", request.path)
            return web.Response(status=500, text="internal error in the webhook server\n")
        return web.Response(body=orjson.dumps(answer), content_type="application/json")


def _bad_request(message: str) -> web.Response:
    log.info("refusing a webhook request: %s", message)
    return web.Response(status=400, text=message + "\n")
