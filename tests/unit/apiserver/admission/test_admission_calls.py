"""Calling webhooks over HTTPS: timeouts and ``failurePolicy``, TLS verification, connection
errors, dry-run side effects and service references, with Go-worded messages."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest
from webhook_harness import CA, OTHER_CA, Cluster, Server, attrs

from pilothouse.apiserver.admission import Dispatcher
from pilothouse.apiserver.errors import ApiError


async def test_timeout_fail_and_ignore(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    webhooks.add("validating", "fail", webhooks.hook("slow.example.com", "hang", timeoutSeconds=1))
    webhooks.add(
        "mutating",
        "ignore",
        webhooks.hook("lazy.example.com", "hang", timeoutSeconds=1, failurePolicy="Ignore"),
    )
    # Both time out concurrently, so the test waits one second rather than two.
    validated, mutated = await asyncio.gather(
        dispatcher.validate(attrs()), dispatcher.mutate(attrs()), return_exceptions=True
    )
    assert isinstance(validated, ApiError)
    assert validated.code == 500
    assert validated.reason == "InternalError"
    assert validated.message == (
        'Internal error occurred: failed calling webhook "slow.example.com": failed to call '
        f'webhook: Post "{server.url}/hang?timeout=1s": context deadline exceeded'
    )
    assert validated.details == {"causes": [{"message": validated.message[25:]}]}
    assert isinstance(mutated, tuple) and mutated[1] == []


@pytest.mark.parametrize("ca_bundle", [OTHER_CA.cert_pem, None])
@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
async def test_untrusted_certificate(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher, ca_bundle: bytes | None, policy: str
) -> None:
    hook = webhooks.hook("tls.example.com", "ok", failurePolicy=policy)
    if ca_bundle is None:
        del hook["clientConfig"]["caBundle"]  # system roots do not know our CA either
    else:
        hook["clientConfig"]["caBundle"] = base64.b64encode(ca_bundle).decode()
    webhooks.add("validating", "cfg", hook)
    if policy == "Ignore":
        assert await dispatcher.validate(attrs()) == []
        return
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.code == 500
    assert info.value.message == (
        'Internal error occurred: failed calling webhook "tls.example.com": failed to call '
        f'webhook: Post "{server.url}/ok?timeout=10s": tls: failed to verify certificate: '
        "x509: certificate signed by unknown authority"
    )
    assert server.calls == []


async def test_connection_refused(webhooks: Cluster, dispatcher: Dispatcher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = webhooks.hook("down.example.com", "x")
    hook["clientConfig"]["url"] = f"https://127.0.0.1:{port}/x"
    webhooks.add("validating", "cfg", hook)
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.message.endswith(f"dial tcp 127.0.0.1:{port}: connect: connection refused")


@pytest.mark.parametrize(
    ("side_effects", "outcome"),
    [("None", "called"), ("NoneOnDryRun", "called"), ("Some", 400), ("Unknown", 400), (None, 500)],
)
async def test_dry_run_side_effects(
    server: Server,
    webhooks: Cluster,
    dispatcher: Dispatcher,
    side_effects: str | None,
    outcome: str | int,
) -> None:
    hook = webhooks.hook("se.example.com", "se", sideEffects=side_effects)
    if side_effects is None:
        del hook["sideEffects"]
    webhooks.add("validating", "cfg", hook)
    if outcome == "called":
        await dispatcher.validate(attrs(dry_run=True))
        assert server.requests("se")[0]["dryRun"] is True
        return
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs(dry_run=True))
    assert info.value.code == outcome
    if outcome == 400:
        assert info.value.reason == "BadRequest"
        assert info.value.message == 'admission webhook "se.example.com" does not support dry run'
    assert server.calls == []
    # Without dry run the side effects do not matter.
    await dispatcher.validate(attrs())
    assert server.called("se") == 1


async def test_service_reference_with_resolver(server: Server, webhooks: Cluster) -> None:
    seen: list[tuple[str, str, int]] = []

    def resolve(namespace: str, name: str, port: int) -> str | None:
        seen.append((namespace, name, port))
        return server.url

    hook = webhooks.hook("svc.example.com", "ignored")
    hook["clientConfig"] = {
        "service": {"namespace": "webhooks", "name": "hooks", "path": "/svc", "port": 8443},
        "caBundle": base64.b64encode(CA.cert_pem).decode(),
    }
    webhooks.add("validating", "cfg", hook)
    d = Dispatcher(lambda which: webhooks.configs[which], service_resolver=resolve)
    try:
        assert await d.validate(attrs()) == []
    finally:
        await d.close()
    assert seen == [("webhooks", "hooks", 8443)]
    assert server.called("svc") == 1


async def test_service_certificate_must_name_the_service(server: Server, webhooks: Cluster) -> None:
    hook = webhooks.hook("svc.example.com", "ignored")
    hook["clientConfig"] = {
        "service": {"namespace": "elsewhere", "name": "hooks", "path": "/svc"},
        "caBundle": base64.b64encode(CA.cert_pem).decode(),
    }
    webhooks.add("validating", "cfg", hook)
    d = Dispatcher(lambda which: webhooks.configs[which], service_resolver=lambda *_: server.url)
    try:
        with pytest.raises(ApiError) as info:
            await d.validate(attrs())
    finally:
        await d.close()
    assert info.value.message.endswith(
        'Post "https://hooks.elsewhere.svc:443/svc?timeout=10s": tls: failed to verify '
        "certificate: x509: certificate is not valid for hooks.elsewhere.svc"
    )
    assert server.calls == []


async def test_invalid_ca_bundle(webhooks: Cluster, dispatcher: Dispatcher) -> None:
    hook = webhooks.hook("ca.example.com", "ok")
    hook["clientConfig"]["caBundle"] = base64.b64encode(b"not a certificate").decode()
    webhooks.add("validating", "cfg", hook)
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.message.startswith(
        'Internal error occurred: failed calling webhook "ca.example.com": could not get REST '
        "client: unable to load root certificates"
    )
    hook["failurePolicy"] = "Ignore"
    assert await dispatcher.validate(attrs()) == []


@pytest.mark.parametrize("resolver", ["default", "none"])
async def test_unresolvable_service(webhooks: Cluster, resolver: str) -> None:
    hook = webhooks.hook("svc.example.com", "x")
    hook["clientConfig"] = {"service": {"namespace": "webhooks", "name": "hooks", "path": "/v"}}
    webhooks.add("validating", "cfg", hook)
    d = Dispatcher(
        lambda which: webhooks.configs[which],
        service_resolver=None if resolver == "default" else (lambda ns, n, p: None),
    )
    try:
        with pytest.raises(ApiError) as info:
            await d.validate(attrs())
    finally:
        await d.close()
    prefix = (
        'Internal error occurred: failed calling webhook "svc.example.com": failed to call '
        'webhook: Post "https://hooks.webhooks.svc:443/v?timeout=10s": '
    )
    assert info.value.message.startswith(prefix)
    if resolver == "none":
        assert info.value.message == prefix + 'no endpoints available for service "hooks"'
    else:
        assert "use clientConfig.url or configure a service resolver" in info.value.message
