"""Webhook configuration builders and CA-bundle republishing."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt

import pytest

from pilothouse.api import kinds
from pilothouse.runtime.webhook.registration import (
    Rule,
    ServiceEndpoint,
    UrlEndpoint,
    Webhook,
    crd_conversion,
    mutating_configuration,
    republish_on_rotation,
    validating_configuration,
)
from pilothouse.runtime.webhook.selfsigned import SelfSignedCertificates

WIDGET = kinds.Kind("example.com", "v1", "Widget", "widgets")
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CA_B64 = base64.b64encode(CA).decode()


def test_webhook_validating_configuration_for_a_local_run() -> None:
    hook = Webhook(
        "vwidget.example.com",
        "/validate-widgets",
        [Rule.for_kind(WIDGET, ("CREATE", "UPDATE", "DELETE"), subresources=["status"])],
        failure_policy="Ignore",
        timeout_seconds=5,
        namespace_selector={"matchLabels": {"team": "a"}},
        match_conditions=[{"name": "not-system", "expression": "true"}],
    )
    config = validating_configuration(
        "widgets", [hook], UrlEndpoint(9443), CA, labels={"app": "widgets"}
    )
    assert config == {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "widgets", "labels": {"app": "widgets"}},
        "webhooks": [
            {
                "name": "vwidget.example.com",
                "clientConfig": {
                    "url": "https://127.0.0.1:9443/validate-widgets",
                    "caBundle": CA_B64,
                },
                "rules": [
                    {
                        "apiGroups": ["example.com"],
                        "apiVersions": ["v1"],
                        "resources": ["widgets", "widgets/status"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "scope": "Namespaced",
                    }
                ],
                "failurePolicy": "Ignore",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
                "namespaceSelector": {"matchLabels": {"team": "a"}},
                "objectSelector": {},
                "matchConditions": [{"name": "not-system", "expression": "true"}],
            }
        ],
    }


def test_webhook_mutating_configuration_in_cluster() -> None:
    endpoint = ServiceEndpoint("widgets-system", "widgets-webhook")
    hooks = [
        Webhook("mwidget.example.com", "/mutate-widgets", [Rule.for_kind(WIDGET)]),
        Webhook(
            "mwidget2.example.com",
            "/mutate-2",
            [Rule(["*"], ["*"], ["pods"], ["*"])],
            reinvocation_policy="IfNeeded",
            object_selector={"matchLabels": {"inject": "true"}},
        ),
    ]
    config = mutating_configuration("widgets", hooks, endpoint, None)
    first, second = config["webhooks"]
    assert first["clientConfig"] == {
        "service": {
            "namespace": "widgets-system",
            "name": "widgets-webhook",
            "path": "/mutate-widgets",
            "port": 443,
        }
    }
    assert first["reinvocationPolicy"] == "Never"
    assert second["reinvocationPolicy"] == "IfNeeded"
    assert second["objectSelector"] == {"matchLabels": {"inject": "true"}}
    assert second["rules"][0]["scope"] == "*"
    assert endpoint.dns_names == [
        "widgets-webhook",
        "widgets-webhook.widgets-system",
        "widgets-webhook.widgets-system.svc",
        "widgets-webhook.widgets-system.svc.cluster.local",
    ]


def test_webhook_configuration_errors() -> None:
    hook = Webhook("v.example.com", "/v", [Rule.for_kind(WIDGET)])
    with pytest.raises(ValueError, match="unique"):
        validating_configuration("x", [hook, hook], UrlEndpoint(1), CA)
    mutating_only = Webhook("v.example.com", "/v", [], reinvocation_policy="IfNeeded")
    with pytest.raises(ValueError, match="reinvocationPolicy"):
        validating_configuration("x", [mutating_only], UrlEndpoint(1), CA)


def test_webhook_url_endpoint_hosts() -> None:
    assert UrlEndpoint(8443, "::1").client_config("/p", None) == {"url": "https://[::1]:8443/p"}
    rule = Rule.for_kind(kinds.Kind("", "v1", "Namespace", "namespaces", namespaced=False))
    assert rule.scope == "Cluster" and rule.api_groups == [""]


def test_webhook_crd_conversion_partials() -> None:
    assert crd_conversion("widgets.example.com", CA) == {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "conversion": {
                "strategy": "Webhook",
                "webhook": {"clientConfig": {"caBundle": CA_B64}},
            }
        },
    }
    full = crd_conversion(
        "widgets.example.com", CA, endpoint=ServiceEndpoint("ns", "svc", 8443), path="/conv"
    )
    assert full["spec"]["conversion"]["webhook"] == {
        "clientConfig": {
            "service": {"namespace": "ns", "name": "svc", "path": "/conv", "port": 8443},
            "caBundle": CA_B64,
        },
        "conversionReviewVersions": ["v1"],
    }


async def test_webhook_republish_only_when_the_bundle_changes() -> None:
    now = [dt.datetime.now(dt.UTC)]
    certs = SelfSignedCertificates(
        validity=dt.timedelta(days=9), ca_validity=dt.timedelta(days=30), clock=lambda: now[0]
    )
    certs.rotate()
    published: list[bytes] = []
    done = asyncio.Event()

    async def publish() -> None:
        published.append(certs.ca_pem)
        done.set()

    republish_on_rotation(certs, publish)
    now[0] += dt.timedelta(days=7)
    assert certs.rotate_if_due()  # a new serving certificate, same bundle
    await asyncio.sleep(0)
    assert published == []
    now[0] += dt.timedelta(days=14)
    assert certs.rotate_if_due()  # the CA's successor joins the bundle
    await asyncio.wait_for(done.wait(), 5)
    assert published == [certs.ca_pem] and len(published[0]) > len(certs.ca.cert_pem)


async def test_webhook_republish_retries_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    now = [dt.datetime.now(dt.UTC)]
    certs = SelfSignedCertificates(
        validity=dt.timedelta(days=9), ca_validity=dt.timedelta(days=30), clock=lambda: now[0]
    )
    certs.rotate()
    attempts: list[bytes] = []
    calls = asyncio.Queue[None]()

    async def publish() -> None:
        attempts.append(certs.ca_pem)
        await calls.put(None)
        if len(attempts) == 1:
            raise RuntimeError("API server unavailable")

    republish_on_rotation(certs, publish)
    now[0] += dt.timedelta(days=21)
    assert certs.rotate_if_due()  # the CA's successor joins the bundle: publish fails
    await asyncio.wait_for(calls.get(), 5)
    for callback in certs.on_rotate:  # the next rotation, even with the same bundle, retries
        callback()
    await asyncio.wait_for(calls.get(), 5)
    assert attempts == [certs.ca_pem, certs.ca_pem]
    assert "publishing the renewed webhook CA bundle failed" in caplog.text
