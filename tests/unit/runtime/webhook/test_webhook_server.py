"""The webhook HTTPS server: routing, HTTP errors, metrics, readiness."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pilothouse import pki
from pilothouse.runtime.webhook.admission import Admission, ValidatingWebhook, Verdict
from pilothouse.runtime.webhook.server import NotReady, WebhookServer

Obj = dict[str, Any]


async def deny_big(admission: Admission[Obj]) -> Verdict:
    obj = admission.object or {}
    if obj.get("spec", {}).get("size", 0) > 3:
        return Verdict.deny("spec.size: at most 3")
    return Verdict.allow()


def review(size: int) -> Obj:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "operation": "CREATE",
            "object": {"spec": {"size": size}},
        },
    }


@pytest.fixture
async def server() -> AsyncIterator[WebhookServer]:
    srv = WebhookServer("127.0.0.1", 0, registry=CollectorRegistry())
    srv.register("/validate-size", ValidatingWebhook(deny_big))
    assert not srv.ready()
    async with srv:
        yield srv
    assert not srv.ready()


@pytest.fixture
async def http(server: WebhookServer) -> AsyncIterator[aiohttp.ClientSession]:
    assert server.ca_pem is not None
    connector = aiohttp.TCPConnector(ssl=pki.ssl_client_context(server.ca_pem))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def sample(server: WebhookServer, name: str, **labels: str) -> float | None:
    return server.registry.get_sample_value(name, labels)


async def test_webhook_server_answers_reviews(
    server: WebhookServer, http: aiohttp.ClientSession
) -> None:
    server.check_ready()
    async with http.post(server.url("/validate-size"), json=review(1)) as resp:
        assert resp.status == 200
        assert (await resp.json())["response"] == {"uid": "u", "allowed": True}
    async with http.post(server.url("validate-size"), json=review(5)) as resp:
        body = await resp.json()
        assert body["response"]["status"]["message"] == "spec.size: at most 3"
    total = "controller_runtime_webhook_requests_total"
    assert sample(server, total, webhook="/validate-size", code="200") == 2
    count = "controller_runtime_webhook_latency_seconds_count"
    assert sample(server, count, webhook="/validate-size") == 2
    in_flight = "controller_runtime_webhook_requests_in_flight"
    assert sample(server, in_flight, webhook="/validate-size") == 0


async def test_webhook_server_http_errors(
    server: WebhookServer, http: aiohttp.ClientSession
) -> None:
    url = server.url("/validate-size")
    async with http.post(url, data=b"{", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400 and "not JSON" in await resp.text()
    async with http.post(url, data=b"{}", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 400 and "expected application/json" in await resp.text()
    async with http.post(url, json={"kind": "AdmissionReview"}) as resp:
        assert resp.status == 400 and "expected admission.k8s.io/v1" in await resp.text()
    async with http.post(url, data=b"", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400 and "empty" in await resp.text()
    async with http.post(server.url("/nothing"), json=review(1)) as resp:
        assert resp.status == 404
    async with http.get(url) as resp:
        assert resp.status == 405
    too_big = io.BytesIO(b'{"x": "' + b"a" * (8 * 1024 * 1024) + b'"}')
    async with http.post(url, data=too_big, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
    total = "controller_runtime_webhook_requests_total"
    assert sample(server, total, webhook="/validate-size", code="400") == 4
    assert sample(server, total, webhook="/validate-size", code="413") == 1


async def test_webhook_server_registration_rules(server: WebhookServer) -> None:
    with pytest.raises(ValueError, match="already registered"):
        server.register("/validate-size", ValidatingWebhook(deny_big))
    with pytest.raises(ValueError, match="must start with"):
        server.register("convert", ValidatingWebhook(deny_big))
    with pytest.raises(ValueError, match="not both"):
        WebhookServer(cert_dir="/x", certificates=server.certificates)
    assert server.paths == ["/validate-size"]


async def test_webhook_server_readiness_reasons(tmp_path: Any) -> None:
    srv = WebhookServer("127.0.0.1", 0, cert_dir=tmp_path)
    with pytest.raises(NotReady, match="not started"):
        srv.check_ready()
    with pytest.raises(FileNotFoundError):
        await srv.start()
    assert not srv.ready()
