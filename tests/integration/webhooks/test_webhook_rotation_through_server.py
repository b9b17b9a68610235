"""Serving-certificate rotation while the API server keeps calling the webhook.

The certificate provider runs on a fake clock the test moves, while a writer keeps creating
ConfigMaps through the API server, which calls the webhook for each. The serving certificate
is renewed in place; then the CA is renewed in two steps with the bundle republished each
time; finally the old CA leaves the bundle, so the API server's calls can only succeed
through fresh handshakes with the renewed certificate on the live context. No write fails
and the server never restarts.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
from typing import Any

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry

from pilothouse import pki
from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.runtime.webhook.admission import Admission, ValidatingWebhook
from pilothouse.runtime.webhook.registration import (
    Rule,
    UrlEndpoint,
    Webhook,
    apply_configurations,
    republish_on_rotation,
    validating_configuration,
)
from pilothouse.runtime.webhook.selfsigned import SelfSignedCertificates
from pilothouse.runtime.webhook.server import WebhookServer
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually_async

Obj = dict[str, Any]


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


async def served_certificate(server: WebhookServer, ca_pem: bytes) -> x509.Certificate:
    """What a new TLS handshake with the webhook server is shown."""
    ctx = pki.ssl_client_context(ca_pem)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx)
    ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.fixture
async def rotating() -> Any:
    clock = FakeClock()
    certs = SelfSignedCertificates(
        ["127.0.0.1"],
        validity=dt.timedelta(days=9),
        ca_validity=dt.timedelta(days=30),
        clock=clock,
    )
    server = WebhookServer("127.0.0.1", 0, certificates=certs, registry=CollectorRegistry())
    async with server:
        yield clock, certs, server


async def test_webhook_rotation_while_the_api_server_calls(
    rotating: tuple[FakeClock, SelfSignedCertificates, WebhookServer],
    cluster: ServerThread,
    client: client_mod.Client,
) -> None:
    clock, certs, server = rotating
    t0 = clock.now
    seen: list[str] = []

    async def record(admission: Admission[Obj]) -> None:
        seen.append(admission.name)

    server.register("/validate", ValidatingWebhook(record))

    def configuration() -> Obj:
        hook = Webhook("vrotation.example.com", "/validate", [Rule.for_kind(kinds.CONFIGMAP)])
        return validating_configuration("rotation", [hook], UrlEndpoint.of(server), certs.ca_pem)

    await apply_configurations(client, [configuration()])
    republish_on_rotation(certs, lambda: apply_configurations(client, [configuration()]))

    # A writer going through the API server (and so the webhook) all along.
    written: list[str] = []
    failures: list[BaseException] = []
    stop = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            name = f"cm-{i}"
            try:
                await client.create(
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
                )
                written.append(name)
            except Exception as e:
                failures.append(e)
            i += 1

    async def more_writes() -> None:
        target = len(written) + 5

        async def done() -> bool:
            assert not failures, failures
            return len(written) >= target

        await eventually_async(done, message="writes through the webhook")

    async def published() -> None:
        bundle = base64.b64encode(certs.ca_pem).decode()

        async def done() -> bool:
            vwc = await client.get(kinds.VALIDATING_WEBHOOK_CONFIGURATION, "rotation")
            return bool(vwc["webhooks"][0]["clientConfig"]["caBundle"] == bundle)

        await eventually_async(done, message="caBundle republished")

    def at(days: float) -> None:
        clock.now = t0 + dt.timedelta(days=days, minutes=6)

    task = asyncio.get_running_loop().create_task(writer())
    try:
        await more_writes()
        ca0 = certs.ca
        first = await served_certificate(server, certs.ca_pem)

        # Every 6 days (2/3 of 9) the serving certificate is renewed in place, same CA.
        previous = first
        for day in (6, 12, 18):
            at(day)
            assert certs.rotate_if_due()
            renewed = await served_certificate(server, certs.ca_pem)
            assert renewed.serial_number != previous.serial_number
            renewed.verify_directly_issued_by(ca0.cert)
            previous = renewed
            await more_writes()

        # Day 20 of 30: the CA is due; its successor is published, the certificate stays.
        at(20)
        assert certs.rotate_if_due() and certs.ca is ca0
        await published()
        await more_writes()

        # Day 24: the certificate comes from the new CA (both CAs are published).
        at(24)
        assert certs.rotate_if_due() and certs.ca is not ca0
        await published()
        await more_writes()

        # Day 31: the old CA is gone from the bundle, so the API server's calls verify against
        # the new CA alone -- new handshakes on the live context, with the new certificate.
        at(31)
        assert certs.rotate_if_due() and certs.ca_pem == certs.ca.cert_pem
        await published()
        await more_writes()
        latest = await served_certificate(server, certs.ca.cert_pem)
        latest.verify_directly_issued_by(certs.ca.cert)
    finally:
        stop.set()
        await task
    assert not failures
    assert set(written) <= set(seen)
    assert certs.rotations == 6
